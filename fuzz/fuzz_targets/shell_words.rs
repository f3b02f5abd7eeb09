//! Shell-word expansion on arbitrary words and environments, both escape characters and
//! every lexer option.
#![no_main]

use kiln_dockerfile::shell::Lexer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (flags, rest) = match text.char_indices().nth(1) {
        Some((i, _)) => text.split_at(i),
        None => return,
    };
    let bits = flags.bytes().next().unwrap_or(0);
    let (word, env_text) = rest.split_once('\n').unwrap_or((rest, ""));
    let env: Vec<(String, String)> = env_text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut lex = Lexer::new(if bits & 1 == 0 { '\\' } else { '`' });
    lex.raw_quotes = bits & 2 != 0;
    lex.raw_escapes = bits & 4 != 0;
    lex.skip_unset_env = bits & 8 != 0;
    lex.skip_process_quotes = bits & 16 != 0;
    let _ = lex.expand_word(word, &env);
    let _ = lex.expand_words(word, &env);
});
