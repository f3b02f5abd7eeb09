//! `kiln debug expand|words`: the shell-word expander on its own, for conformance tests.

use crate::cli::{DebugCommand, WordArgs};
use crate::exit::Failure;
use kiln_dockerfile::shell::Lexer;
use kiln_oci::ErrorKind;

pub fn run(cmd: DebugCommand) -> Result<(), Failure> {
    match cmd {
        DebugCommand::Expand(args) => {
            let (lexer, env) = setup(&args)?;
            let out = lexer
                .expand_word(&args.word, &env)
                .map_err(|e| expand_failure(&args.word, &e))?;
            crate::output::stdout(&format!("{}\n", out.word))?;
        }
        DebugCommand::Words(args) => {
            let (lexer, env) = setup(&args)?;
            let words = lexer
                .expand_words(&args.word, &env)
                .map_err(|e| expand_failure(&args.word, &e))?;
            let text: String = words.iter().map(|w| format!("{w}\n")).collect();
            crate::output::stdout(&text)?;
        }
    }
    Ok(())
}

fn setup(args: &WordArgs) -> Result<(Lexer, Vec<(String, String)>), Failure> {
    if args.escape != '\\' && args.escape != '`' {
        return Err(Failure::usage(format!(
            "invalid escape character '{}': use \\ or `",
            args.escape
        )));
    }
    let env = args
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(Failure::usage(format!(
                "--env {kv}: expected KEY=VALUE (use {kv}= for an empty value)"
            ))),
        })
        .collect::<Result<_, _>>()?;
    Ok((Lexer::new(args.escape), env))
}

fn expand_failure(word: &str, e: &kiln_dockerfile::shell::ExpandError) -> Failure {
    let caret = " ".repeat(e.offset.min(word.chars().count()));
    Failure::new(
        ErrorKind::Rejected,
        format!("error: {}\n  | {word}\n  | {caret}^", e.message),
    )
}
