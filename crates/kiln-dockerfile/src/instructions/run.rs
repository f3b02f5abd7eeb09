//! RUN [--mount=...] [--network=default|none|host] [--security=sandbox|insecure]
//! [--device=...] command

use super::command_line::{command_line, CommandLine};
use super::flags::FlagType;
use super::run_mount::precheck_mount;
use super::Req;
use crate::error::{Error, ErrorKind, Result};
use crate::syntax::Token;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub command: CommandLine,
    /// `--mount` values as written (expanded and parsed per step, see [`super::run_mount`]).
    pub mounts: Vec<Token>,
    /// `default`, `none` or `host`; `None` when not given.
    pub network: Option<Token>,
    /// `sandbox` or `insecure`; `None` when not given.
    pub security: Option<Token>,
    pub devices: Vec<Token>,
}

pub(crate) fn parse(req: &Req<'_>) -> Result<Run> {
    let flags = req.flags(&[
        ("mount", FlagType::Strings),
        ("network", FlagType::String),
        ("security", FlagType::String),
        ("device", FlagType::Strings),
    ])?;
    let mounts = flags.all("mount").to_vec();
    for m in &mounts {
        precheck_mount(&m.value).map_err(|(msg, hint)| {
            let mut e = Error::new(ErrorKind::Flag, m.span, msg);
            e.hint = hint;
            e
        })?;
    }
    let network = flags.string("network");
    if let Some(n) = &network {
        if !matches!(n.value.as_str(), "default" | "none" | "host") {
            return Err(Error::new(
                ErrorKind::Flag,
                n.span,
                format!("invalid network mode \"{}\"", n.value),
            )
            .with_hint("use --network=default, --network=none or --network=host"));
        }
    }
    let security = flags.string("security");
    if let Some(s) = &security {
        if !matches!(s.value.as_str(), "sandbox" | "insecure") {
            return Err(Error::new(
                ErrorKind::Flag,
                s.span,
                format!("security \"{}\" is not valid", s.value),
            )
            .with_hint("use --security=sandbox or --security=insecure"));
        }
    }
    Ok(Run {
        command: command_line(req, req.args(), false),
        mounts,
        network,
        security,
        devices: flags.all("device").to_vec(),
    })
}
