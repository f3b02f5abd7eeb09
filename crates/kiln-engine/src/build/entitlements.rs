//! Entitlements: privileged RUN features a build must be given on the command line
//! (`--allow network.host`, `--allow security.insecure`).
//!
//! One rule, used twice: before any work, for the Dockerfile's own RUN instructions (fast
//! feedback), and at the point of use, right before the sandbox runs a step, whatever the
//! step came from (the Dockerfile, an ONBUILD trigger of an earlier stage or of a base
//! image, any later frontend). The point-of-use check is the guarantee: the privileged
//! confinement of a step only comes out of [`confinement`], which refuses first.

use super::error::BuildError;
use super::options::SandboxOptions;
use kiln_dockerfile::instructions::Run;
use kiln_dockerfile::Span;
use kiln_sandbox::{Confinement, NetworkMode};

/// A privileged feature a build must be allowed to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entitlement {
    /// `RUN --network=host`: the host's network namespace.
    NetworkHost,
    /// `RUN --security=insecure`: every capability, no seccomp filter.
    SecurityInsecure,
}

impl Entitlement {
    /// The name `--allow` takes.
    pub fn name(self) -> &'static str {
        match self {
            Entitlement::NetworkHost => "network.host",
            Entitlement::SecurityInsecure => "security.insecure",
        }
    }

    /// The flag that asks for it.
    fn flag(self) -> &'static str {
        match self {
            Entitlement::NetworkHost => "RUN --network=host",
            Entitlement::SecurityInsecure => "RUN --security=insecure",
        }
    }

    fn risk(self) -> &'static str {
        match self {
            Entitlement::NetworkHost => {
                "the step would share the host's network, including services listening on 127.0.0.1"
            }
            Entitlement::SecurityInsecure => {
                "the step would run privileged: every capability, no seccomp filter, writable /proc/sys and /sys"
            }
        }
    }

    fn granted(self, sandbox: &SandboxOptions) -> bool {
        match self {
            Entitlement::NetworkHost => sandbox.allow_network_host,
            Entitlement::SecurityInsecure => sandbox.allow_insecure,
        }
    }
}

/// The entitlements a RUN asks for, each with the span of its flag.
pub(crate) fn required(run: &Run) -> Vec<(Entitlement, Span)> {
    let mut out = Vec::new();
    if let Some(n) = run.network.as_ref().filter(|n| n.value == "host") {
        out.push((Entitlement::NetworkHost, n.span));
    }
    if let Some(s) = run.security.as_ref().filter(|s| s.value == "insecure") {
        out.push((Entitlement::SecurityInsecure, s.span));
    }
    out
}

/// Where a step came from, for the refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A RUN instruction of the Dockerfile (the error points at its flag).
    Dockerfile,
    /// An ONBUILD trigger, run by the FROM at `from_line`.
    Trigger {
        /// The trigger's text (`RUN --security=insecure ...`).
        text: String,
        /// Who declared it.
        declared: TriggerSource,
        /// The line of the FROM that ran it.
        from_line: u32,
    },
}

/// Who declared an ONBUILD trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TriggerSource {
    /// A base image's config (`OnBuild`).
    Image(String),
    /// An `ONBUILD` instruction of an earlier stage (its line when known).
    Stage { name: String, line: Option<u32> },
}

impl Origin {
    /// `ONBUILD trigger `RUN ...` of base image IMAGE, run by FROM at Dockerfile:LINE`.
    fn describe(&self, dockerfile: &str) -> Option<String> {
        let Origin::Trigger {
            text,
            declared,
            from_line,
        } = self
        else {
            return None;
        };
        let of = match declared {
            TriggerSource::Image(image) => format!("base image {image}"),
            TriggerSource::Stage {
                name,
                line: Some(l),
            } => format!("stage {name}, {dockerfile}:{l}"),
            TriggerSource::Stage { name, line: None } => format!("stage {name}"),
        };
        Some(format!(
            "ONBUILD trigger `{}` of {of}, run by FROM at {dockerfile}:{from_line}",
            text.trim()
        ))
    }
}

/// Refuse the step unless every entitlement it asks for was given. `span` locates the
/// step (for a trigger: the FROM that runs it); `dockerfile` names the Dockerfile.
pub(crate) fn check(
    run: &Run,
    sandbox: &SandboxOptions,
    origin: &Origin,
    span: Span,
    dockerfile: &str,
) -> Result<(), BuildError> {
    let Some((e, flag_span)) = required(run).into_iter().find(|(e, _)| !e.granted(sandbox)) else {
        return Ok(());
    };
    let (what, at) = match origin.describe(dockerfile) {
        Some(trigger) => (format!("{} in {trigger},", e.flag()), span),
        None => (e.flag().to_string(), flag_span),
    };
    Err(BuildError::step(
        at,
        format!(
            "{what} is not allowed: the build was not given --allow {}",
            e.name()
        ),
    )
    .with_hint(format!(
        "{}; pass --allow {} only if you trust this Dockerfile and its base images, or remove the flag",
        e.risk(),
        e.name()
    )))
}

/// The confinement of a RUN step: the build's, with the step's `--network` and
/// `--security` applied, after [`check`] allowed them. The only way the engine gets a
/// privileged or host-network confinement.
pub(crate) fn confinement(
    run: &Run,
    sandbox: &SandboxOptions,
    origin: &Origin,
    span: Span,
    dockerfile: &str,
) -> Result<Confinement, BuildError> {
    check(run, sandbox, origin, span, dockerfile)?;
    let mut confinement = sandbox.confinement();
    match run.network.as_ref().map(|t| t.value.as_str()) {
        Some("none") => confinement.network = NetworkMode::None,
        Some("host") => confinement.network = NetworkMode::Host,
        _ => {}
    }
    if run.security.as_ref().is_some_and(|s| s.value == "insecure") {
        confinement = confinement.privileged();
    }
    Ok(confinement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_dockerfile::instructions::{self, Command};

    fn run_of(text: &str) -> Run {
        let ast = kiln_dockerfile::syntax::parse(text).expect("parse");
        let ins = instructions::parse_instruction(&ast.nodes[0]).expect("instruction");
        match ins.command {
            Command::Run(r) => r,
            other => panic!("not a RUN: {other:?}"),
        }
    }

    #[test]
    fn a_trigger_is_refused_with_its_origin_and_allowed_with_the_entitlement() {
        let run = run_of("RUN --security=insecure --network=host id");
        let origin = Origin::Trigger {
            text: "RUN --security=insecure --network=host id".into(),
            declared: TriggerSource::Image("base:1".into()),
            from_line: 3,
        };
        let none = SandboxOptions::default();
        let err = confinement(&run, &none, &origin, Span::default(), "Dockerfile")
            .expect_err("refused without --allow");
        let msg = err.to_string();
        assert!(msg.contains("--allow network.host"), "{msg}");
        assert!(
            msg.contains("of base image base:1, run by FROM at Dockerfile:3"),
            "{msg}"
        );
        let net_only = SandboxOptions {
            allow_network_host: true,
            ..SandboxOptions::default()
        };
        let err = confinement(&run, &net_only, &origin, Span::default(), "Dockerfile")
            .expect_err("insecure still refused");
        assert!(err.to_string().contains("--allow security.insecure"));
        let both = SandboxOptions {
            allow_insecure: true,
            ..net_only
        };
        let c = confinement(&run, &both, &origin, Span::default(), "Dockerfile").expect("allowed");
        assert_eq!(c.network, NetworkMode::Host);
        assert!(!c.no_new_privs);
    }

    #[test]
    fn an_unprivileged_step_needs_nothing() {
        let run = run_of("RUN --network=none true");
        let c = confinement(
            &run,
            &SandboxOptions::default(),
            &Origin::Dockerfile,
            Span::default(),
            "Dockerfile",
        )
        .expect("no entitlement needed");
        assert_eq!(c.network, NetworkMode::None);
        assert!(c.no_new_privs);
    }
}
