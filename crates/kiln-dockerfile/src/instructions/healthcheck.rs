//! HEALTHCHECK NONE | HEALTHCHECK [--interval --timeout --start-period --start-interval
//! --retries] CMD command.

use super::command_line::command_line;
use super::duration::parse_go_duration;
use super::flags::FlagType;
use super::Req;
use crate::error::{Error, ErrorKind, Result};
use crate::syntax::Token;
use serde::Serialize;
use std::time::Duration;

/// A health check as it goes into the image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", argv...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    #[serde(serialize_with = "nanos")]
    pub interval: Option<Duration>,
    #[serde(serialize_with = "nanos")]
    pub timeout: Option<Duration>,
    #[serde(serialize_with = "nanos")]
    pub start_period: Option<Duration>,
    #[serde(serialize_with = "nanos")]
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

/// Durations as integer nanoseconds, as the image config stores them.
fn nanos<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_nanos() as u64)),
        None => s.serialize_none(),
    }
}

pub(crate) fn parse(req: &Req<'_>) -> Result<Healthcheck> {
    req.at_least_one()?;
    let args = req.args();
    let typ = args[0].value.to_ascii_uppercase();
    let rest = &args[1..];
    let mut hc = Healthcheck {
        test: Vec::new(),
        interval: None,
        timeout: None,
        start_period: None,
        start_interval: None,
        retries: None,
    };
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err(req
                .args_err("HEALTHCHECK NONE takes no arguments")
                .with_hint("write `HEALTHCHECK NONE` alone to disable the base image's check"));
        }
        hc.test = vec![typ];
        return Ok(hc);
    }
    let flags = req.flags(&[
        ("interval", FlagType::String),
        ("timeout", FlagType::String),
        ("start-period", FlagType::String),
        ("start-interval", FlagType::String),
        ("retries", FlagType::String),
    ])?;
    if typ != "CMD" {
        return Err(Error::new(
            ErrorKind::Instruction,
            args[0].span,
            format!("Unknown type \"{}\" in HEALTHCHECK (try CMD)", typ),
        )
        .with_hint("write `HEALTHCHECK CMD command` or `HEALTHCHECK NONE`"));
    }
    let line = command_line(req, rest, false);
    let argv = line.args.unwrap_or_default();
    if argv.is_empty() {
        return Err(req
            .err(args[0].span, "Missing command after HEALTHCHECK CMD")
            .with_hint("write `HEALTHCHECK CMD curl -f http://localhost/ || exit 1`"));
    }
    hc.test = std::iter::once(if line.shell_form { "CMD-SHELL" } else { "CMD" }.to_string())
        .chain(argv)
        .collect();
    hc.interval = interval(flags.string("interval"), "interval")?;
    hc.timeout = interval(flags.string("timeout"), "timeout")?;
    hc.start_period = interval(flags.string("start-period"), "start-period")?;
    hc.start_interval = interval(flags.string("start-interval"), "start-interval")?;
    if let Some(tok) = flags.string("retries") {
        let n: i64 = tok.value.parse().map_err(|_| {
            Error::new(
                ErrorKind::Flag,
                tok.span,
                format!(
                    "invalid value for --retries: {:?} is not a whole number",
                    tok.value
                ),
            )
            .with_hint("write the number of failures allowed, e.g. --retries=3")
        })?;
        if n < 0 {
            return Err(Error::new(
                ErrorKind::Flag,
                tok.span,
                format!("--retries cannot be negative ({n})"),
            )
            .with_hint("use --retries=0 (the default) or more"));
        }
        hc.retries = Some(u32::try_from(n).map_err(|_| {
            Error::new(
                ErrorKind::Flag,
                tok.span,
                format!("--retries is too large ({n})"),
            )
        })?);
    }
    Ok(hc)
}

/// A duration flag: empty or zero means "inherit the default"; otherwise at least 1ms.
fn interval(tok: Option<Token>, name: &str) -> Result<Option<Duration>> {
    let Some(tok) = tok else { return Ok(None) };
    if tok.value.is_empty() {
        return Ok(None);
    }
    let d = parse_go_duration(&tok.value).map_err(|e| {
        Error::new(
            ErrorKind::Flag,
            tok.span,
            format!("invalid value for --{name}: {e}"),
        )
        .with_hint("durations are written like 30s, 1m30s, 500ms")
    })?;
    if d.is_zero() {
        return Ok(None);
    }
    if d < Duration::from_millis(1) {
        return Err(Error::new(
            ErrorKind::Flag,
            tok.span,
            format!("Interval \"{name}\" cannot be less than 1ms"),
        )
        .with_hint(format!(
            "use --{name}=1ms or more, or --{name}=0s for the default"
        )));
    }
    Ok(Some(d))
}
