//! Canonical Dockerfile text of a typed instruction (used for history entries and reports).

use super::{Command, CommandLine, Copy, KeyValue};
use crate::syntax::Token;
use std::fmt::{self, Display, Formatter, Write};

fn json_array(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

fn cmdline(f: &mut Formatter<'_>, c: &CommandLine) -> fmt::Result {
    match &c.args {
        None => f.write_str("[]"),
        Some(a) if c.shell_form => f.write_str(&a.join(" ")),
        Some(a) => f.write_str(&json_array(a)),
    }
}

fn pairs(kvs: &[KeyValue]) -> String {
    kvs.iter()
        .map(|kv| {
            format!(
                "{}={}",
                quote_if_needed(&kv.key.value),
                quote_if_needed(&kv.value.value)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `v` as one shell word: as is when it can be, in single quotes when it holds a `$` (so it
/// does not read as a variable), else in double quotes.
fn quote_if_needed(v: &str) -> String {
    if !v.is_empty()
        && !v.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '$' | '`'))
    {
        return v.to_string();
    }
    if v.contains(['$', '`']) && !v.contains('\'') {
        return format!("'{v}'");
    }
    let mut s = String::from("\"");
    for c in v.chars() {
        if matches!(c, '"' | '\\' | '$') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// A path with white space (only possible in JSON form) needs the JSON form.
fn needs_json(parts: &[String]) -> bool {
    parts
        .iter()
        .any(|p| p.is_empty() || p.contains(char::is_whitespace))
}

/// Paths as words, or as a JSON array when one of them holds white space.
fn paths(toks: &[Token]) -> String {
    let parts: Vec<String> = toks.iter().map(|t| t.value.clone()).collect();
    if needs_json(&parts) {
        json_array(&parts)
    } else {
        parts.join(" ")
    }
}

fn words(toks: &[Token]) -> String {
    toks.iter()
        .map(|t| t.value.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn copy_flags(c: &Copy) -> String {
    let mut s = String::new();
    let mut flag = |name: &str, v: &Option<Token>| {
        if let Some(v) = v {
            let _ = write!(s, "--{name}={} ", v.value);
        }
    };
    flag("from", &c.from);
    flag("chown", &c.chown);
    flag("chmod", &c.chmod);
    flag("checksum", &c.checksum);
    if c.link {
        s.push_str("--link ");
    }
    if c.parents {
        s.push_str("--parents ");
    }
    if let Some(k) = c.keep_git_dir {
        let _ = write!(s, "--keep-git-dir={k} ");
    }
    if let Some(u) = c.unpack {
        let _ = write!(s, "--unpack={u} ");
    }
    for e in &c.excludes {
        let _ = write!(s, "--exclude={} ", e.value);
    }
    s
}

impl Display for Command {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let args = Arguments(self).to_string();
        if args.is_empty() {
            f.write_str(self.name())
        } else {
            write!(f, "{} {args}", self.name())
        }
    }
}

/// The text after the instruction name.
struct Arguments<'a>(&'a Command);

impl Display for Arguments<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            Command::From(from) => {
                if let Some(p) = &from.platform {
                    write!(f, "--platform={} ", p.value)?;
                }
                f.write_str(&from.base.value)?;
                if let Some(n) = &from.name {
                    write!(f, " AS {}", n.value)?;
                }
                Ok(())
            }
            Command::Run(r) => {
                for m in &r.mounts {
                    write!(f, "--mount={} ", m.value)?;
                }
                if let Some(n) = &r.network {
                    write!(f, "--network={} ", n.value)?;
                }
                if let Some(s) = &r.security {
                    write!(f, "--security={} ", s.value)?;
                }
                cmdline(f, &r.command)
            }
            Command::Cmd(c) | Command::Entrypoint(c) => cmdline(f, c),
            Command::Shell { shell } => f.write_str(&json_array(shell)),
            Command::Label { labels } => f.write_str(&pairs(labels)),
            Command::Env { env } => f.write_str(&pairs(env)),
            Command::Maintainer { maintainer } => f.write_str(&maintainer.value),
            Command::Expose { ports } => f.write_str(&words(ports)),
            Command::Volume { volumes } => f.write_str(&paths(volumes)),
            Command::Arg { args } => {
                let s: Vec<String> = args
                    .iter()
                    .map(|a| match &a.default {
                        Some(d) => format!("{}={}", a.key.value, quote_if_needed(&d.value)),
                        None => a.key.value.clone(),
                    })
                    .collect();
                f.write_str(&s.join(" "))
            }
            Command::Copy(c) | Command::Add(c) => {
                f.write_str(&copy_flags(c))?;
                let mut parts: Vec<String> = c.sources.iter().map(|t| t.value.clone()).collect();
                parts.push(c.dest.value.clone());
                if needs_json(&parts) {
                    return f.write_str(&json_array(&parts));
                }
                parts.splice(
                    parts.len() - 1..parts.len() - 1,
                    c.inline.iter().map(|i| format!("<<{}", i.path)),
                );
                // `--` keeps a first path that starts with `--` from reading as a flag.
                if parts[0].starts_with("--") {
                    f.write_str("-- ")?;
                }
                f.write_str(&parts.join(" "))
            }
            Command::User { user } => f.write_str(&user.value),
            Command::Workdir { path } => f.write_str(&path.value),
            Command::StopSignal { signal } => f.write_str(&signal.value),
            Command::Healthcheck(h) => {
                if h.test.first().map(String::as_str) == Some("NONE") {
                    return f.write_str("NONE");
                }
                let dur = |name: &str, d: &Option<std::time::Duration>| {
                    d.map(|d| format!("--{name}={}s ", d.as_secs_f64()))
                        .unwrap_or_default()
                };
                write!(
                    f,
                    "{}{}{}{}",
                    dur("interval", &h.interval),
                    dur("timeout", &h.timeout),
                    dur("start-period", &h.start_period),
                    dur("start-interval", &h.start_interval)
                )?;
                if let Some(r) = h.retries {
                    write!(f, "--retries={r} ")?;
                }
                match h.test.split_first() {
                    Some((t, rest)) if t == "CMD-SHELL" => write!(f, "CMD {}", rest.join(" ")),
                    Some((_, rest)) => write!(f, "CMD {}", json_array(rest)),
                    None => Ok(()),
                }
            }
            Command::Onbuild { expression, .. } => f.write_str(expression),
        }
    }
}
