//! ENV and LABEL pairs; ARG declarations.

use super::Req;
use crate::error::Result;
use crate::syntax::Token;
use serde::Serialize;

/// `key=value` (or the legacy `key value` form, where `legacy` is true).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub key: Token,
    pub value: Token,
    pub legacy: bool,
}

/// `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArgDecl {
    pub key: Token,
    pub default: Option<Token>,
}

/// ENV/LABEL: the parser's (key, value, separator) triples.
pub(crate) fn parse_pairs(req: &Req<'_>) -> Result<Vec<KeyValue>> {
    req.flags(&[])?;
    req.at_least_one()?;
    let args = req.args();
    if args.len() % 3 != 0 {
        return Err(req.args_err(format!("Bad input to {}, too many arguments", req.name)));
    }
    args.chunks_exact(3)
        .map(|c| {
            if c[0].value.is_empty() {
                return Err(req
                    .err(c[0].span, format!("{} names can not be blank", req.name))
                    .with_hint("write name=value"));
            }
            Ok(KeyValue {
                key: c[0].clone(),
                value: c[1].clone(),
                legacy: c[2].value.is_empty(),
            })
        })
        .collect()
}

pub(crate) fn parse_args(req: &Req<'_>) -> Result<Vec<ArgDecl>> {
    req.at_least_one()?;
    req.flags(&[])?;
    req.args()
        .iter()
        .map(|t| match t.value.split_once('=') {
            Some(("", _)) => Err(req
                .err(t.span, "ARG names can not be blank")
                .with_hint("write ARG name or ARG name=default")),
            Some((k, v)) => {
                let mut key_span = t.span;
                let mut val_span = t.span;
                if t.span.start.line == t.span.end.line {
                    key_span.end.col = key_span.start.col + k.chars().count() as u32;
                    val_span.start.col = key_span.end.col + 1;
                }
                Ok(ArgDecl {
                    key: Token {
                        value: k.to_string(),
                        span: key_span,
                    },
                    default: Some(Token {
                        value: v.to_string(),
                        span: val_span,
                    }),
                })
            }
            None => Ok(ArgDecl {
                key: t.clone(),
                default: None,
            }),
        })
        .collect()
}
