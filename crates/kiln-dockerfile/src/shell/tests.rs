//! Table tests for shell-word expansion.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::lex::MAX_NESTING;
use super::{ExpandError, Lexer, LookupEnv};

/// What a case expects.
#[derive(Debug)]
enum Want {
    /// This expanded word.
    Word(&'static str),
    /// An error whose message starts with this text, at this char offset.
    Fails(&'static str, usize),
}
use Want::{Fails, Word};

fn env() -> Vec<(String, String)> {
    [
        ("HOME", "/root"),
        ("EMPTY", ""),
        ("NAME", "kiln"),
        ("SPACED", "  one  two "),
        ("BIN", "/usr/local/bin:/usr/bin"),
        ("FILE", "archive.tar.gz"),
        ("STARS", "a*b*c"),
        ("LINES", "l1\nl2"),
        ("HELLO", "안녕"),
        ("VERSION", "1.0"),
        ("VERSION", "2.0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn check(lexer: &Lexer, table: &[(&str, Want)]) {
    let env = env();
    let mut failures = Vec::new();
    for (word, want) in table {
        let got = lexer.expand_word(word, &env);
        let ok = match (want, &got) {
            (Word(w), Ok(e)) => e.word == *w,
            (Fails(msg, offset), Err(e)) => e.message.starts_with(msg) && e.offset == *offset,
            _ => false,
        };
        if !ok {
            failures.push(format!("{word:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const QUOTE_DQ: &str = "unexpected end of input: missing closing quote '\"'";
const QUOTE_SQ: &str = "unexpected end of input: missing closing quote \"'\"";
const NO_BRACE: &str = "unexpected end of input: missing closing '}'";
const BAD_MOD: &str = "bad substitution: unsupported modifier";

#[test]
fn quotes_and_escapes() {
    check(
        &Lexer::new('\\'),
        &[
            ("plain", Word("plain")),
            ("", Word("")),
            ("it's'", Word("its")),
            ("'single $HOME'", Word("single $HOME")),
            ("\"double $HOME\"", Word("double /root")),
            ("\"a'b'c\"", Word("a'b'c")),
            ("'a\"b\"c'", Word("a\"b\"c")),
            ("mixed'$NAME'\"$NAME\"", Word("mixed$NAMEkiln")),
            ("\"\"", Word("")),
            ("\"tab\\there\"", Word("tab\\there")),
            ("\"q\\\"q\"", Word("q\"q")),
            ("\"d\\$NAME\"", Word("d$NAME")),
            ("\"bs\\\\x\"", Word("bs\\x")),
            ("a\\ b", Word("a b")),
            ("\\$HOME", Word("$HOME")),
            ("\\'x\\'", Word("'x'")),
            ("trailing\\", Word("trailing")),
            ("\\\\", Word("\\")),
            ("\\안", Word("안")),
            ("'\\'", Word("\\")),
            ("\"unterminated", Fails(QUOTE_DQ, 0)),
            ("ab'cd", Fails(QUOTE_SQ, 2)),
            ("안녕'하세요", Fails(QUOTE_SQ, 2)),
            ("\"open\\\"", Fails(QUOTE_DQ, 0)),
            ("<<EOF", Word("<<EOF")),
            ("a<b", Word("a<b")),
            ("\u{FEFF}bom", Word("bom")),
            ("bom\u{FEFF}", Word("bom\u{FEFF}")),
        ],
    );
}

#[test]
fn simple_references() {
    check(
        &Lexer::new('\\'),
        &[
            ("$HOME/bin", Word("/root/bin")),
            ("${HOME}bin", Word("/rootbin")),
            ("$HOMEbin", Word("")),
            ("$UNSET-x", Word("-x")),
            ("$", Word("$")),
            ("a$", Word("a$")),
            ("$.x", Word("$.x")),
            ("$-x", Word("x")),
            ("$1abc", Word("abc")),
            ("$12x", Word("x")),
            ("[$@|$*|$#|$?|$$|$!|$0]", Word("[||||||]")),
            ("${@}${*}${#}${?}${-}${$}${!}${0}${10}", Word("")),
            ("$HELLO세계", Word("")),
            ("${HELLO}세계", Word("안녕세계")),
            ("$VERSION", Word("2.0")),
            ("$NAME_", Word("")),
            ("${EMPTY}x", Word("x")),
            // Roman numeral four is a number, not a letter: no name follows `$`.
            ("$Ⅳ", Word("$Ⅳ")),
            // Arabic-Indic digit three is a decimal digit: a positional parameter.
            ("$٣x", Word("x")),
        ],
    );
}

#[test]
fn default_alternative_and_required() {
    check(
        &Lexer::new('\\'),
        &[
            ("${UNSET:-def}", Word("def")),
            ("${EMPTY:-def}", Word("def")),
            ("${EMPTY-def}", Word("")),
            ("${UNSET-def}", Word("def")),
            ("${NAME:-def}", Word("kiln")),
            ("${UNSET:+alt}", Word("")),
            ("${EMPTY:+alt}", Word("")),
            ("${EMPTY+alt}", Word("alt")),
            ("${NAME:+alt}", Word("alt")),
            ("${NAME:+[$NAME]}", Word("[kiln]")),
            ("${UNSET:-${NAME:-x}}", Word("kiln")),
            ("${UNSET:-${UNSET2:-${UNSET3:-deep}}}", Word("deep")),
            ("${UNSET:-'quoted }'}", Word("quoted }")),
            ("${UNSET:-a\\}b}", Word("a}b")),
            ("${UNSET:-\"$HOME\"}", Word("/root")),
            ("${1:-one}${@:-at}", Word("oneat")),
            ("${NAME?}", Word("kiln")),
            ("${EMPTY?}", Word("")),
            ("${NAME:?}", Word("kiln")),
            ("${UNSET?}", Fails("UNSET: is not allowed to be unset", 0)),
            ("${EMPTY:?}", Fails("EMPTY: is not allowed to be empty", 0)),
            ("${UNSET:?}", Fails("UNSET: is not allowed to be unset", 0)),
            (
                "x${UNSET:?set UNSET first}",
                Fails("UNSET: set UNSET first", 1),
            ),
            ("${UNSET?need $NAME}", Fails("UNSET: need kiln", 0)),
            (
                "${EMPTY:?must not be empty}",
                Fails("EMPTY: must not be empty", 0),
            ),
        ],
    );
}

#[test]
fn prefix_and_suffix_removal() {
    check(
        &Lexer::new('\\'),
        &[
            ("${FILE#*.}", Word("tar.gz")),
            ("${FILE##*.}", Word("gz")),
            ("${FILE%.*}", Word("archive.tar")),
            ("${FILE%%.*}", Word("archive")),
            ("${FILE#nomatch}", Word("archive.tar.gz")),
            ("${FILE#}", Word("archive.tar.gz")),
            ("${BIN#/usr/}", Word("local/bin:/usr/bin")),
            ("${FILE%.?z}", Word("archive.tar")),
            ("${STARS#*\\*}", Word("b*c")),
            ("${STARS%%\\**}", Word("a")),
            ("${STARS%\\**}", Word("a*b")),
            // Bracket expressions are not supported: `[a]` is literal.
            ("${FILE#[a]}", Word("archive.tar.gz")),
            ("${UNSET#x}", Word("")),
            ("${HELLO#안}", Word("녕")),
            ("${HELLO%?}", Word("안")),
            ("${LINES#*}", Word("l1\nl2")),
            // `*` and `?` never match a newline.
            ("${LINES##*}", Word("\nl2")),
            ("${LINES%%?l2}", Word("l1\nl2")),
            ("${FILE#$EMPTY}", Word("archive.tar.gz")),
            (
                "${FILE#\\x}",
                Fails("invalid pattern '\\x' in substitution", 7),
            ),
            (
                "${FILE:#x}",
                Fails("bad substitution: ':#' is not supported", 6),
            ),
            (
                "${FILE:%%x}",
                Fails("bad substitution: ':%' is not supported", 6),
            ),
        ],
    );
}

#[test]
fn pattern_replacement() {
    check(
        &Lexer::new('\\'),
        &[
            ("${BIN/usr/opt}", Word("/opt/local/bin:/usr/bin")),
            ("${BIN//usr/opt}", Word("/opt/local/bin:/opt/bin")),
            ("${BIN//\\//|}", Word("|usr|local|bin:|usr|bin")),
            ("${FILE/.*/}", Word("archive")),
            ("${FILE//?/x}", Word("xxxxxxxxxxxxxx")),
            ("${NAME//$EMPTY/-}", Word("-k-i-l-n-")),
            ("${NAME/$EMPTY/-}", Word("-kiln")),
            // `/#` and `/%` do not anchor: `#` is part of the pattern.
            ("${NAME/#k/K}", Word("kiln")),
            // Replacing every match expands `$0` in the replacement to the
            // match (Go template rules); a single replacement is literal.
            ("${NAME//i/'<$0>'}", Word("k<i>ln")),
            ("${NAME/i/'<$0>'}", Word("k<$0>ln")),
            ("${HELLO//녕/하세요}", Word("안하세요")),
            ("${UNSET/a/b}", Word("")),
            ("${NAME///}", Word("kiln")),
            (
                "${NAME//x}",
                Fails("unexpected end of input: missing '/'", 0),
            ),
            ("${NAME/k/K", Fails(NO_BRACE, 0)),
            ("${NAME/\\q/x}", Fails("invalid pattern", 7)),
        ],
    );
}

#[test]
fn syntax_errors() {
    check(
        &Lexer::new('\\'),
        &[
            ("${}", Fails("bad substitution: ${} is empty", 0)),
            ("ab${}", Fails("bad substitution: ${} is empty", 2)),
            ("안녕${}", Fails("bad substitution: ${} is empty", 2)),
            ("${:-x}", Fails("bad substitution: ':' after '${'", 0)),
            ("${{NAME}}", Fails("bad substitution: '{' after '${'", 0)),
            ("${NAME", Fails(NO_BRACE, 0)),
            ("x${NAME:-x", Fails(NO_BRACE, 1)),
            ("${NAME:=x}", Fails(BAD_MOD, 6)),
            ("${NAME=x}", Fails(BAD_MOD, 6)),
            ("${NAME.x}", Fails(BAD_MOD, 6)),
            ("${NAME:-${}}", Fails("bad substitution: ${} is empty", 8)),
            ("${", Fails(NO_BRACE, 0)),
            ("${NAME:", Fails(NO_BRACE, 0)),
            ("${#NAME}", Fails(BAD_MOD, 3)),
            ("${UNSET:-\"open}", Fails(NO_BRACE, 0)),
            ("${UNSET:-${X:?}", Fails(NO_BRACE, 0)),
            ("\\${}", Word("${}")),
        ],
    );
}

#[test]
fn backtick_escape() {
    check(
        &Lexer::new('`'),
        &[
            ("a`$HOME", Word("a$HOME")),
            ("C:\\path\\$NAME", Word("C:\\path\\kiln")),
            ("`\"q`\"", Word("\"q\"")),
            ("\"a`\"b\"", Word("a\"b")),
            ("\"a\\$NAME\"", Word("a\\kiln")),
            ("\"a`x\"", Word("a`x")),
            ("trailing`", Word("trailing")),
            ("``", Word("`")),
            ("a` b", Word("a b")),
            ("${UNSET:-a`}b}", Word("a}b")),
            ("${STARS#*\\*}", Word("b*c")),
            ("\"open`\"", Fails(QUOTE_DQ, 0)),
        ],
    );
}

#[test]
fn raw_quotes_and_raw_escapes() {
    let raw_quotes = Lexer {
        raw_quotes: true,
        ..Lexer::new('\\')
    };
    check(
        &raw_quotes,
        &[
            ("'a'\"b\"", Word("'a'\"b\"")),
            ("\"$NAME\"", Word("\"kiln\"")),
            ("'$NAME'", Word("'$NAME'")),
        ],
    );
    let raw_escapes = Lexer {
        raw_escapes: true,
        ..Lexer::new('\\')
    };
    check(
        &raw_escapes,
        &[
            ("a\\ b", Word("a\\ b")),
            ("\\$NAME", Word("\\$NAME")),
            ("\"x\\\"y\"", Word("x\\\"y")),
            // An escape before a character it does not escape is doubled.
            ("\"x\\y\"", Word("x\\\\y")),
            ("trailing\\", Word("trailing\\")),
            // Operands of :- + ? never keep escapes.
            ("${UNSET:-a\\ b}", Word("a b")),
        ],
    );
}

#[test]
fn skip_unset_env_and_skip_quotes() {
    let skip_unset = Lexer {
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    check(
        &skip_unset,
        &[
            ("$UNSET", Word("$UNSET")),
            ("${UNSET}", Word("${UNSET}")),
            ("${UNSET:-$NAME}", Word("${UNSET:-kiln}")),
            ("${UNSET//a/b}", Word("${UNSET/a/b}")),
            ("${NAME:-x}", Word("kiln")),
            ("$1$@", Word("$1$@")),
            ("${UNSET:=x}", Word("${UNSET:=x}")),
            ("${UNSET?}", Word("${UNSET?}")),
            ("${EMPTY:?}", Fails("EMPTY: is not allowed to be empty", 0)),
        ],
    );
    let skip_quotes = Lexer {
        skip_process_quotes: true,
        ..Lexer::new('\\')
    };
    check(
        &skip_quotes,
        &[
            ("'$NAME'", Word("'kiln'")),
            ("\"a b\"", Word("\"a b\"")),
            ("\\'", Word("'")),
            ("'open", Word("'open")),
        ],
    );
}

fn words(lexer: &Lexer, word: &str) -> Result<Vec<String>, ExpandError> {
    lexer.expand_words(word, &env())
}

#[test]
fn word_splitting() {
    let lexer = Lexer::new('\\');
    let table: &[(&str, &[&str])] = &[
        ("a b  c", &["a", "b", "c"]),
        ("$SPACED", &["one", "two"]),
        ("\"$SPACED\"", &["  one  two "]),
        ("x$SPACED", &["x", "one", "two"]),
        ("x${SPACED}y", &["x", "one", "two", "y"]),
        ("a\\ b c", &["a b", "c"]),
        ("'' a \"\"", &["a"]),
        ("\"\" ", &[]),
        ("", &[]),
        ("a \"b c\" d", &["a", "b c", "d"]),
        ("$EMPTY", &[]),
        ("<< EOF", &["<< EOF"]),
        ("$LINES", &["l1", "l2"]),
        ("a\u{A0}b", &["a", "b"]),
        ("x\"$UNSET\"y", &["xy"]),
        ("\t lead  trail \t", &["lead", "trail"]),
        ("안녕 하세요", &["안녕", "하세요"]),
        // Like BuildKit, scanning the operand of `${V:-w}` drops the
        // unfinished word before it.
        ("a${UNSET:-b c}", &["b", "c"]),
        ("a ${UNSET:-b} c", &["a", "b", "c"]),
    ];
    let mut failures = Vec::new();
    for (word, want) in table {
        match words(&lexer, word) {
            Ok(got) if got == *want => {}
            other => failures.push(format!("{word:?}: want {want:?}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(words(&lexer, "\"open").map_err(|e| e.offset), Err(0));
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn matched_and_unmatched_names() {
    let lexer = Lexer::new('\\');
    let env = env();
    let e = lexer
        .expand_word("$NAME ${UNSET:-$HOME} ${EMPTY:+x} $1 $NAME", &env)
        .expect("expands");
    assert_eq!(e.word, "kiln /root   kiln");
    assert_eq!(e.matched, names(&["NAME", "HOME", "EMPTY"]));
    assert_eq!(e.unmatched, names(&["UNSET", "1"]));

    // The operand is expanded (and its names recorded) even when unused.
    let e = lexer.expand_word("${UNSET:+$NAME}", &env).expect("expands");
    assert_eq!(
        (e.word.as_str(), e.matched, e.unmatched),
        ("", names(&["NAME"]), names(&["UNSET"]))
    );

    let e = lexer.expand_word("'$NAME' \\$HOME", &env).expect("expands");
    assert!(e.matched.is_empty() && e.unmatched.is_empty());
}

#[test]
fn required_messages_are_exact() {
    let lexer = Lexer::new('\\');
    let env = env();
    let message = |w: &str| {
        lexer
            .expand_word(w, &env)
            .map(|e| e.word)
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        message("${FOO:?}"),
        Err("FOO: is not allowed to be unset".to_owned())
    );
    assert_eq!(
        message("${FOO?}"),
        Err("FOO: is not allowed to be unset".to_owned())
    );
    assert_eq!(
        message("${EMPTY:?}"),
        Err("EMPTY: is not allowed to be empty".to_owned())
    );
    assert_eq!(message("${FOO?m}"), Err("FOO: m".to_owned()));
    assert_eq!(
        message("${EMPTY:?m $NAME}"),
        Err("EMPTY: m kiln".to_owned())
    );
}

#[test]
fn lookup_env_implementations() {
    let pairs = [("A", "1"), ("B", "2"), ("A", "3")];
    assert_eq!(pairs.lookup("A").as_deref(), Some("3"));
    assert_eq!(pairs[..].lookup("B").as_deref(), Some("2"));
    assert_eq!(pairs.lookup("C"), None);
    let owned: Vec<(String, String)> = vec![("A".into(), "x".into()), ("A".into(), "".into())];
    assert_eq!(owned.lookup("A").as_deref(), Some(""));
    let btree: BTreeMap<String, String> = [("K".to_string(), "v".to_string())].into();
    let hash: HashMap<String, String> = [("K".to_string(), "w".to_string())].into();
    let lexer = Lexer::default();
    assert_eq!(
        lexer.expand_word("$K", &btree).map(|e| e.word),
        Ok("v".to_owned())
    );
    assert_eq!(
        lexer.expand_word("$K", &hash).map(|e| e.word),
        Ok("w".to_owned())
    );
    assert_eq!(
        lexer.expand_word("$K", &&hash).map(|e| e.word),
        Ok("w".to_owned())
    );
    // Names are case-sensitive, as on Unix.
    assert_eq!(
        lexer.expand_word("$k", &btree).map(|e| e.word),
        Ok(String::new())
    );
}

#[test]
fn nesting_is_bounded() {
    let lexer = Lexer::new('\\');
    let nested = |depth: usize| {
        let mut w = String::new();
        for i in 0..depth {
            w.push_str(&format!("\"${{V{i}:-"));
        }
        w.push('x');
        w.push_str(&"}\"".repeat(depth));
        w
    };
    let env = env();
    assert_eq!(
        lexer
            .expand_word(&nested(MAX_NESTING), &env)
            .map(|e| e.word),
        Ok("x".to_owned())
    );
    let err = lexer
        .expand_word(&nested(MAX_NESTING + 50), &env)
        .expect_err("too deep");
    assert!(err.message.starts_with("too many nested"), "{err}");
}

/// Small deterministic generator, so the robustness test needs no crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

#[test]
fn arbitrary_input_never_panics() {
    const PIECES: &[&str] = &[
        "$", "${", "}", "{", ":", "-", "+", "?", "#", "%", "/", "*", "\\", "`", "'", "\"", " ",
        "a", "NAME", "SPACED", "LINES", "1", "@", "<", "<<", "\n", "안", "\u{FEFF}", "Ⅳ", "[", ".",
        "0",
    ];
    let env = env();
    let mut rng = Lcg(7);
    for round in 0..3000 {
        let mut word = String::new();
        for _ in 0..rng.next(24) {
            word.push_str(PIECES[rng.next(PIECES.len())]);
        }
        let lexer = Lexer {
            escape: if round % 3 == 0 { '`' } else { '\\' },
            raw_quotes: rng.next(4) == 0,
            raw_escapes: rng.next(4) == 0,
            skip_unset_env: rng.next(4) == 0,
            skip_process_quotes: rng.next(6) == 0,
        };
        let len = word.chars().count();
        for result in [
            lexer.expand_word(&word, &env).map(|_| ()),
            lexer.expand_words(&word, &env).map(|_| ()),
        ] {
            if let Err(e) = result {
                assert!(e.offset <= len, "{word:?}: offset {} past {len}", e.offset);
                assert!(!e.message.is_empty());
            }
        }
    }
}
