//! The flags of how RUN steps are confined: `--network`, `--network-deny`, `--allow`,
//! `--memory`, `--pids-limit`, `--cpus`, `--cap-add/--cap-drop`, `--security-opt`,
//! `--max-download-size`; and `--runtime` (`--runtime-flag`), the isolation that runs them.

use crate::cli_image::BuildArgs;
use crate::exit::Failure;
use crate::sizes::parse_bytes;
use kiln_engine::build::{Network, SandboxOptions, DEFAULT_PIDS_LIMIT};
use kiln_oci::ErrorKind;

/// The sandbox options of `args`, every value checked.
pub fn sandbox_options(args: &BuildArgs) -> Result<SandboxOptions, Failure> {
    let memory = args
        .memory
        .as_deref()
        .map(|m| size_flag("--memory", m, "512m or 2g"))
        .transpose()?;
    if let Some(c) = args.cpus {
        if !(c > 0.0 && c.is_finite()) {
            return Err(Failure::usage(format!(
                "--cpus {c}: expected a positive number"
            )));
        }
    }
    check_capabilities(args)?;
    let network = args
        .network
        .as_deref()
        .map(Network::parse)
        .transpose()
        .map_err(|e| Failure::usage(format!("--network: {e}")))?
        .unwrap_or_default();
    let (allow_network_host, allow_insecure) = entitlements(&args.allow)?;
    Ok(SandboxOptions {
        network,
        allow_network_host,
        allow_insecure,
        memory,
        pids: match args.pids_limit {
            None => Some(DEFAULT_PIDS_LIMIT),
            Some(n) if n <= 0 => None,
            Some(n) => Some(n as u64),
        },
        cpus: args.cpus,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        seccomp: seccomp(&args.security_opt)?,
        network_deny: network_deny(&args.network_deny)?,
        max_download_size: args
            .max_download_size
            .as_deref()
            .map(|s| size_flag("--max-download-size", s, "512m or 8g"))
            .transpose()?,
    })
}

/// The isolation of `--runtime` (found now: a runtime that is not there is a mistake of
/// the command line, exit 2).
pub fn isolation(args: &BuildArgs) -> Result<kiln_engine::build::Isolation, Failure> {
    kiln_engine::build::isolation::open(args.runtime.as_deref(), &args.runtime_flags).map_err(|e| {
        let mut message = format!("error: {e}");
        if let Some(h) = e.hint() {
            message.push_str(&format!("\n = hint: {h}"));
        }
        Failure::new(e.kind(), message)
    })
}

/// A size flag's bytes; `examples` shows valid values.
fn size_flag(flag: &str, value: &str, examples: &str) -> Result<u64, Failure> {
    parse_bytes(value)
        .ok_or_else(|| Failure::usage(format!("{flag} {value:?}: expected a size like {examples}")))
}

/// `--cap-add` / `--cap-drop`: capability names (with or without `CAP_`) or `ALL`.
fn check_capabilities(args: &BuildArgs) -> Result<(), Failure> {
    for cap in args.cap_add.iter().chain(&args.cap_drop) {
        let name = cap.to_ascii_uppercase();
        let name = name.strip_prefix("CAP_").unwrap_or(&name);
        if name != "ALL" && !kiln_sandbox::ALL_CAPABILITIES.contains(&name) {
            return Err(Failure::usage(format!(
                "unknown capability {cap:?}: use names like CAP_NET_ADMIN or ALL"
            )));
        }
    }
    Ok(())
}

/// `--security-opt seccomp=PROFILE.json|unconfined` (the profile is read now).
fn seccomp(opts: &[String]) -> Result<kiln_sandbox::SeccompPolicy, Failure> {
    let mut seccomp = kiln_sandbox::SeccompPolicy::Default;
    for opt in opts {
        match opt.split_once('=') {
            Some(("seccomp", "unconfined")) => seccomp = kiln_sandbox::SeccompPolicy::Unconfined,
            Some(("seccomp", path)) => {
                let json = std::fs::read_to_string(path).map_err(|e| {
                    Failure::new(
                        ErrorKind::Io,
                        format!("error: cannot read the seccomp profile {path}: {e}"),
                    )
                })?;
                seccomp = kiln_sandbox::SeccompPolicy::Profile(json);
            }
            _ => {
                return Err(Failure::usage(format!(
                "--security-opt {opt:?}: supported are seccomp=PROFILE.json and seccomp=unconfined"
            )))
            }
        }
    }
    Ok(seccomp)
}

/// `--allow`: (network.host, security.insecure).
fn entitlements(allow: &[String]) -> Result<(bool, bool), Failure> {
    let (mut network_host, mut insecure) = (false, false);
    for a in allow {
        match a.as_str() {
            "network.host" => network_host = true,
            "security.insecure" => insecure = true,
            other => {
                return Err(Failure::usage(format!(
                    "--allow {other:?}: entitlements are network.host and security.insecure"
                )))
            }
        }
    }
    Ok((network_host, insecure))
}

/// `--network-deny` values: networks (`10.0.0.0/8`, `fd00::/8`) or single addresses.
fn network_deny(values: &[String]) -> Result<Vec<kiln_sandbox::Cidr>, Failure> {
    values
        .iter()
        .map(|v| {
            v.parse().map_err(|e: kiln_sandbox::CidrError| {
                Failure::usage(format!(
                    "--network-deny: {e}; give a network as ADDRESS/PREFIX (10.0.0.0/8, \
                     fd00::/8) or one address (192.0.2.7)"
                ))
            })
        })
        .collect()
}
