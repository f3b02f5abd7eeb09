//! Builder flags (`--name=value` before an instruction's arguments), checked against the
//! flags each instruction accepts.

use crate::error::{Error, ErrorKind, Result};
use crate::span::Span;
use crate::suggest::did_you_mean;
use crate::syntax::Token;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagType {
    Bool,
    String,
    /// May be given several times.
    Strings,
}

/// The values given for an instruction's flags.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: Vec<(&'static str, Vec<Token>)>,
}

impl Flags {
    /// Parse `given` against `spec`. Errors name the flag and suggest the closest known one.
    pub fn parse(
        instruction: &str,
        given: &[Token],
        spec: &[(&'static str, FlagType)],
    ) -> Result<Flags> {
        let mut flags = Flags::default();
        for tok in given {
            let a = tok.value.as_str();
            if a == "--" {
                break;
            }
            let err = |msg: String| Error::new(ErrorKind::Flag, tok.span, msg);
            let Some(body) = a.strip_prefix("--") else {
                return Err(err(format!("arg should start with -- : {a}")));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(known, ty)) = spec.iter().find(|(n, _)| *n == name) else {
                let mut e = err(format!("unknown flag: --{name}"));
                let names = spec.iter().map(|(n, _)| *n);
                e.hint = Some(match did_you_mean(name, names, true) {
                    Some(h) => format!(
                        "{} (flags of {instruction}: {})",
                        h.replace("did you mean ", "did you mean --"),
                        list(spec)
                    ),
                    None if spec.is_empty() => format!("{instruction} takes no flags"),
                    None => format!("flags of {instruction}: {}", list(spec)),
                });
                return Err(e);
            };
            let seen = flags.values.iter().any(|(n, _)| *n == known);
            if seen && ty != FlagType::Strings {
                return Err(err(format!("duplicate flag specified: --{name}"))
                    .with_hint("give the flag once"));
            }
            let value = match (ty, value) {
                (FlagType::Bool, Some("")) => {
                    return Err(err(format!("missing a value on flag: --{name}"))
                        .with_hint(format!("use --{name}, --{name}=true or --{name}=false")))
                }
                (FlagType::Bool, None) => "true".to_string(),
                (FlagType::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".to_string(),
                    "false" => "false".to_string(),
                    _ => {
                        return Err(err(format!(
                            "expecting boolean value for flag --{name}, not: {v}"
                        ))
                        .with_hint(format!("use --{name}, --{name}=true or --{name}=false")))
                    }
                },
                (_, None) => {
                    return Err(err(format!("missing a value on flag: --{name}"))
                        .with_hint(format!("write --{name}=VALUE")))
                }
                (_, Some(v)) => v.to_string(),
            };
            let value_span = value_span(tok.span, a.len() - value.len());
            let token = Token {
                value,
                span: value_span,
            };
            match flags.values.iter_mut().find(|(n, _)| *n == known) {
                Some((_, v)) => v.push(token),
                None => flags.values.push((known, vec![token])),
            }
        }
        Ok(flags)
    }

    /// The value of a string flag.
    pub fn string(&self, name: &str) -> Option<Token> {
        self.all(name).first().cloned()
    }

    /// Every value of a repeatable flag, in order.
    pub fn all(&self, name: &str) -> &[Token] {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// A boolean flag: `None` when not given.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|t| t.value == "true")
    }
}

fn list(spec: &[(&str, FlagType)]) -> String {
    spec.iter()
        .map(|(n, _)| format!("--{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The span of a flag's value: the flag's span moved past `--name=` (when on one line).
fn value_span(flag: Span, prefix_chars: usize) -> Span {
    if flag.start.line != flag.end.line {
        return flag;
    }
    let mut s = flag;
    s.start.col = (s.start.col + prefix_chars as u32).min(s.end.col);
    s
}
