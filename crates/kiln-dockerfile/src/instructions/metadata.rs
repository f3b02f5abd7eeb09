//! Instructions that only change the image config: MAINTAINER, EXPOSE, USER, WORKDIR,
//! VOLUME, STOPSIGNAL, SHELL, ONBUILD.

use super::{Command, Req};
use crate::error::Result;
use crate::syntax::Token;

pub(crate) fn parse(req: &Req<'_>) -> Result<Command> {
    Ok(match req.name {
        "MAINTAINER" => {
            let m = req.exactly_one()?.clone();
            req.flags(&[])?;
            Command::Maintainer { maintainer: m }
        }
        "EXPOSE" => {
            req.at_least_one()?;
            req.flags(&[])?;
            let mut ports = req.args().to_vec();
            ports.sort_by(|a, b| a.value.cmp(&b.value));
            Command::Expose { ports }
        }
        "USER" => {
            let user = req.exactly_one()?.clone();
            req.flags(&[])?;
            Command::User { user }
        }
        "WORKDIR" => {
            let path = req.exactly_one()?.clone();
            req.flags(&[])?;
            Command::Workdir { path }
        }
        "STOPSIGNAL" => {
            let signal = req.exactly_one()?.clone();
            req.flags(&[])?;
            Command::StopSignal { signal }
        }
        "VOLUME" => {
            req.at_least_one()?;
            req.flags(&[])?;
            let mut volumes = Vec::new();
            for v in req.args() {
                let trimmed = v.value.trim();
                if trimmed.is_empty() {
                    return Err(req
                        .err(v.span, "VOLUME specified can not be an empty string")
                        .with_hint("write VOLUME /path"));
                }
                volumes.push(Token {
                    value: trimmed.to_string(),
                    span: v.span,
                });
            }
            Command::Volume { volumes }
        }
        "SHELL" => {
            req.flags(&[])?;
            if req.args().is_empty() {
                return Err(req
                    .err(
                        req.node.keyword.span,
                        "SHELL requires at least one argument",
                    )
                    .with_hint("write SHELL [\"/bin/sh\", \"-c\"]"));
            }
            if !req.node.json {
                return Err(req
                    .args_err("SHELL requires the arguments to be in JSON form")
                    .with_hint(format!(
                        "write SHELL [{}]",
                        req.args()[0]
                            .value
                            .split_whitespace()
                            .map(|w| format!("\"{w}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
            }
            Command::Shell {
                shell: req.args().iter().map(|t| t.value.clone()).collect(),
            }
        }
        "ONBUILD" => onbuild(req)?,
        other => {
            return Err(req.err(
                req.node.keyword.span,
                format!("unknown instruction: {other}"),
            ))
        }
    })
}

fn onbuild(req: &Req<'_>) -> Result<Command> {
    let node = req.node;
    let Some(child) = node.child.as_deref() else {
        return Err(req
            .err(node.keyword.span, "ONBUILD requires at least one argument")
            .with_hint("write ONBUILD INSTRUCTION, e.g. ONBUILD COPY . /app"));
    };
    req.flags(&[])?;
    let trigger = child.keyword.value.trim().to_ascii_uppercase();
    match trigger.as_str() {
        "ONBUILD" => {
            return Err(req
                .err(
                    child.keyword.span,
                    "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                )
                .with_hint("ONBUILD takes one ordinary instruction"))
        }
        "MAINTAINER" | "FROM" => {
            return Err(req
                .err(
                    child.keyword.span,
                    format!("{trigger} isn't allowed as an ONBUILD trigger"),
                )
                .with_hint(
                    "ONBUILD triggers run in the child image's build; use another instruction",
                ))
        }
        _ => {}
    }
    // The trigger as stored in the image: the text after ONBUILD, heredoc bodies appended.
    let mut expression = child.original.clone();
    for h in &node.heredocs {
        expression.push('\n');
        expression.push_str(&h.content);
        expression.push_str(&h.name);
    }
    Ok(Command::Onbuild {
        trigger,
        expression,
    })
}
