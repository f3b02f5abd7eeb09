//! How each metadata instruction changes the image config, as `docker build` does it.
//! Instructions arrive already expanded (see `kiln_dockerfile::plan::StageScope`).

use super::model::{HealthConfig, ImageConfig};
use kiln_dockerfile::instructions::{Command, CommandLine};
use kiln_dockerfile::Span;

/// A config change that cannot be applied (bad port, bad signal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: String,
    pub span: Span,
    pub hint: Option<String>,
}

/// Per-stage facts the rules need.
#[derive(Debug, Clone, Default)]
pub struct StageConfigState {
    /// CMD was set in this stage (so ENTRYPOINT keeps it).
    pub cmd_set: bool,
}

/// The default shell for shell-form commands.
pub fn shell(cfg: &ImageConfig) -> Vec<String> {
    if cfg.config.shell.is_empty() {
        vec!["/bin/sh".into(), "-c".into()]
    } else {
        cfg.config.shell.clone()
    }
}

/// The argv of a CMD/ENTRYPOINT/RUN command line: exec form as is, shell form through the
/// image's SHELL.
pub fn argv(cfg: &ImageConfig, line: &CommandLine) -> Option<Vec<String>> {
    let args = line.args.clone()?;
    if line.shell_form {
        let mut v = shell(cfg);
        v.extend(args);
        Some(v)
    } else {
        Some(args)
    }
}

/// Apply a metadata instruction. Returns the history text (`created_by`), or `None` for
/// instructions that change files (FROM, RUN, COPY, ADD, WORKDIR are handled by the stage
/// executor; WORKDIR's config part is [`workdir`]).
pub fn apply(
    cfg: &mut ImageConfig,
    cmd: &Command,
    state: &mut StageConfigState,
) -> Result<Option<String>, ConfigError> {
    let c = &mut cfg.config;
    let text = match cmd {
        Command::Env { env } => {
            for kv in env {
                cfg.set_env(&kv.key.value, &kv.value.value);
            }
            cmd.to_string()
        }
        Command::Label { labels } => {
            for kv in labels {
                c.labels
                    .insert(kv.key.value.clone(), kv.value.value.clone());
            }
            cmd.to_string()
        }
        Command::Maintainer { maintainer } => {
            cfg.author = Some(maintainer.value.clone());
            cmd.to_string()
        }
        Command::Expose { ports } => expose(cfg, ports)?,
        Command::User { user } => {
            c.user = user.value.clone();
            cmd.to_string()
        }
        Command::Volume { volumes } => {
            for v in volumes {
                c.volumes.insert(v.value.clone(), serde_json::json!({}));
            }
            cmd.to_string()
        }
        Command::StopSignal { signal } => {
            if !valid_signal(&signal.value) {
                return Err(ConfigError {
                    message: format!("invalid signal: {}", signal.value),
                    span: signal.span,
                    hint: Some("use a signal name (SIGTERM, SIGINT, ...) or number (1-64)".into()),
                });
            }
            c.stop_signal = signal.value.clone();
            cmd.to_string()
        }
        Command::Shell { shell } => {
            c.shell = shell.clone();
            cmd.to_string()
        }
        Command::Cmd(line) => {
            let v = argv(cfg, line);
            cfg.config.cmd = v.clone();
            state.cmd_set = true;
            format!(
                "CMD {}",
                serde_json::to_string(&v.unwrap_or_default()).unwrap_or_default()
            )
        }
        Command::Entrypoint(line) => {
            let v = argv(cfg, line);
            cfg.config.entrypoint = v.clone();
            if !state.cmd_set {
                cfg.config.cmd = None;
            }
            format!(
                "ENTRYPOINT {}",
                serde_json::to_string(&v.unwrap_or_default()).unwrap_or_default()
            )
        }
        Command::Healthcheck(h) => {
            c.healthcheck = Some(health_config(h));
            cmd.to_string()
        }
        Command::Onbuild { expression, .. } => {
            c.on_build.push(expression.clone());
            cmd.to_string()
        }
        Command::Arg { .. } => cmd.to_string(),
        Command::From(_)
        | Command::Run(_)
        | Command::Copy(_)
        | Command::Add(_)
        | Command::Workdir { .. } => return Ok(None),
    };
    Ok(Some(text))
}

/// EXPOSE: the ports added to the config; the history text names them as written there.
fn expose(
    cfg: &mut ImageConfig,
    ports: &[kiln_dockerfile::syntax::Token],
) -> Result<String, ConfigError> {
    let mut added = Vec::new();
    for p in ports {
        for port in parse_ports(&p.value).map_err(|message| ConfigError {
            message,
            span: p.span,
            hint: Some("write EXPOSE PORT[/tcp|/udp|/sctp] or a range like 8000-8010".into()),
        })? {
            cfg.config
                .exposed_ports
                .insert(port.clone(), serde_json::json!({}));
            added.push(port);
        }
    }
    Ok(format!("EXPOSE {}", added.join(" ")))
}

/// HEALTHCHECK as the config stores it (durations in nanoseconds, 0: the default).
fn health_config(h: &kiln_dockerfile::instructions::Healthcheck) -> HealthConfig {
    let nanos = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_nanos() as u64);
    HealthConfig {
        test: h.test.clone(),
        interval: nanos(h.interval),
        timeout: nanos(h.timeout),
        start_period: nanos(h.start_period),
        start_interval: nanos(h.start_interval),
        retries: h.retries.unwrap_or(0),
    }
}

/// WORKDIR: the working directory as the image records it, and as a clean path for the
/// steps. As BuildKit does, an absolute path is recorded as written (`/code/` keeps its
/// slash) and a relative one is joined to the current directory and cleaned.
pub fn workdir(cfg: &mut ImageConfig, path: &str) -> Workdir {
    let base = if cfg.config.working_dir.is_empty() {
        "/"
    } else {
        cfg.config.working_dir.as_str()
    };
    let clean = |p: &str| crate::context::dockerignore::clean(p);
    let recorded = if path.starts_with('/') {
        path.to_string()
    } else {
        clean(&format!("{base}/{path}"))
    };
    cfg.config.working_dir = recorded.clone();
    Workdir {
        path: clean(&recorded),
        recorded,
    }
}

/// A WORKDIR's directory: as recorded in the image config, and cleaned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workdir {
    pub recorded: String,
    pub path: String,
}

/// EXPOSE values: `80`, `80/udp`, `8000-8010/tcp` -> `80/tcp` ... (ranges expanded).
pub fn parse_ports(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto} in EXPOSE {spec}"));
    }
    let num = |s: &str| -> Result<u16, String> {
        s.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("invalid containerPort: {s}"))
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(ports)?, num(ports)?),
    };
    if end < start {
        return Err(format!(
            "invalid range specified for container port: {ports}"
        ));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let name = s.strip_prefix("SIG").unwrap_or(s);
    const NAMES: [&str; 34] = [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    ];
    NAMES.contains(&name)
        || name
            .strip_prefix("RTMIN")
            .or_else(|| name.strip_prefix("RTMAX"))
            .is_some_and(|r| r.is_empty() || r.trim_start_matches(['+', '-']).parse::<u8>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_signals() {
        assert_eq!(parse_ports("80"), Ok(vec!["80/tcp".to_string()]));
        assert_eq!(parse_ports("53/UDP"), Ok(vec!["53/udp".to_string()]));
        assert_eq!(parse_ports("8000-8002").map(|v| v.len()), Ok(3));
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("70000").is_err());
        assert!(parse_ports("80/xtp").is_err());
        assert!(parse_ports("9-1").is_err());
        assert!(valid_signal("SIGTERM") && valid_signal("KILL") && valid_signal("9"));
        assert!(valid_signal("SIGRTMIN+3"));
        assert!(!valid_signal("SIGFOO") && !valid_signal("0"));
    }

    #[test]
    fn workdir_is_relative_to_the_previous_one() {
        let mut c = ImageConfig::default();
        assert_eq!(workdir(&mut c, "app").path, "/app");
        assert_eq!(workdir(&mut c, "src/../lib").path, "/app/lib");
        assert_eq!(workdir(&mut c, "/x").path, "/x");
        let kept = workdir(&mut c, "/code/");
        assert_eq!(
            (kept.recorded.as_str(), kept.path.as_str()),
            ("/code/", "/code")
        );
        assert_eq!(c.config.working_dir, "/code/");
        assert_eq!(workdir(&mut c, "sub/").recorded, "/code/sub");
        assert_eq!(workdir(&mut c, "/a/../b//").path, "/b");
    }
}
