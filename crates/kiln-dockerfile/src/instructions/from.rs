//! FROM [--platform=P] IMAGE [AS name]

use super::flags::FlagType;
use super::Req;
use crate::error::Result;
use crate::syntax::Token;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct From {
    /// The base: an image reference, `scratch`, or an earlier stage's name (unexpanded).
    pub base: Token,
    /// The stage name after `AS`, lower-cased.
    pub name: Option<Token>,
    pub platform: Option<Token>,
}

pub(crate) fn parse(req: &Req<'_>) -> Result<From> {
    let args = req.args();
    let name = match args {
        [_] => None,
        [_, as_kw, name] if as_kw.value.eq_ignore_ascii_case("as") => {
            let lower = name.value.to_lowercase();
            if !valid_stage_name(&lower) {
                return Err(req
                    .err(
                        name.span,
                        format!(
                            "invalid name for build stage: {}, name can't start with a number or contain symbols",
                            crate::syntax::dump::go_quote(&name.value)
                        ),
                    )
                    .with_hint("stage names start with a letter and use only letters, digits, '-', '_' and '.'"));
            }
            Some(Token {
                value: lower,
                span: name.span,
            })
        }
        [] => {
            return Err(req
                .err(
                    req.node.keyword.span,
                    "FROM requires either one or three arguments",
                )
                .with_hint("write `FROM IMAGE` or `FROM IMAGE AS NAME`"))
        }
        _ => {
            return Err(req
                .args_err("FROM requires either one or three arguments")
                .with_hint("write `FROM IMAGE` or `FROM IMAGE AS NAME`"))
        }
    };
    let flags = req.flags(&[("platform", FlagType::String)])?;
    Ok(From {
        base: args[0].clone(),
        name,
        platform: flags.string("platform"),
    })
}

/// `^[a-z][a-z0-9-_.]*$`
pub(crate) fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}
