//! `kiln build`.

use crate::cli_image::{BuildArgs, ProgressMode};
use crate::exit::{Failure, INPUT_REJECTED, IO};
use crate::sizes::parse_bytes;
use kiln_engine::build::progress::Reporter;
use kiln_engine::context::{ContextError, ContextSource};
use kiln_engine::{build, BuildError, BuildOptions, Output};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub fn run(root: &Option<PathBuf>, args: BuildArgs) -> Result<(), Failure> {
    refuse_later(&args)?;
    // Names are checked before any step runs, not after the image was built.
    for t in &args.tags {
        if let Err(e) = kiln_oci::Reference::parse_normalized(t) {
            return Err(Failure::usage(format!("-t {t:?}: {e}")));
        }
    }
    // Before any thread starts: RUN overlays stay in kiln's own mount namespace,
    // so a killed build leaves no mount in the store. Best effort: without it,
    // builds work the same and `kiln prune` reports a leftover mount.
    let _ = kiln_sandbox::private_mounts();
    let store = crate::store::open(root)?;
    let context = if args.context.as_os_str() == "-" {
        ContextSource::Tar(Box::new(std::io::stdin()))
    } else {
        if !args.context.is_dir() {
            return Err(Failure::new(
                IO,
                format!(
                    "error: the build context {} is not a directory\n = hint: give a directory, or - to read a tarball from standard input",
                    args.context.display()
                ),
            ));
        }
        ContextSource::Dir(args.context.clone())
    };
    let from_tar = args.context.as_os_str() == "-";
    if args.check {
        // The Dockerfile on disk, as `kiln lint` reads it (the user's own files).
        let default_file = ["Dockerfile", "Containerfile"]
            .iter()
            .map(|n| args.context.join(n))
            .find(|p| p.is_file());
        let Some(path) = args.file.clone().or(default_file).filter(|_| !from_tar) else {
            return Err(Failure::usage(
                "--check needs a Dockerfile on disk: give -f FILE (with a context on standard input, lint the Dockerfile with `kiln lint`)",
            ));
        };
        return crate::commands::lint::check(path, false);
    }
    let file = args.file.clone();
    let dockerfile = match &file {
        None => None,
        // With a context tarball, -f names a file inside it (as docker build).
        Some(p) if from_tar && p.as_os_str() != "-" => None,
        Some(p) if p.as_os_str() == "-" && from_tar => {
            return Err(Failure::usage(
                "the context and the Dockerfile cannot both come from standard input",
            ));
        }
        Some(p) => {
            let src = crate::input::Source::read(p)?;
            Some((src.name, src.bytes))
        }
    };
    let dockerfile_path = match &file {
        Some(p) if p.as_os_str() != "-" && !from_tar => Some(p.clone()),
        _ => None,
    };
    let dockerfile_in_context = match &args.file {
        Some(p) if from_tar && p.as_os_str() != "-" => Some(p.to_string_lossy().into_owned()),
        _ => None,
    };
    // Lint warnings before the build starts, on the Dockerfile alone: the context is
    // untrusted and is only read inside its root by the build itself.
    let quiet = args.quiet || args.progress == ProgressMode::Quiet;
    // (Not with JSON progress: every line on standard error is then an event.)
    let on_dockerfile: Option<kiln_engine::build::DockerfileHook> =
        if quiet || args.progress == ProgressMode::Json {
            None
        } else {
            Some(Box::new(|name: &str, bytes: &[u8]| {
                eprint!(
                    "{}",
                    crate::commands::lint::build_warnings(name, bytes, None)
                );
            }))
        };
    let mut labels = BTreeMap::new();
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        if k.is_empty() {
            return Err(Failure::usage(format!("--label {l}: expected KEY=VALUE")));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    let mut outputs = args
        .outputs
        .iter()
        .map(|o| Output::parse(o).map_err(Failure::usage))
        .collect::<Result<Vec<_>, _>>()?;
    if args.push {
        if args.tags.is_empty() {
            return Err(Failure::usage(
                "--push needs a name: give -t REGISTRY/REPOSITORY[:TAG]",
            ));
        }
        outputs.extend(args.tags.iter().map(|t| Output::Registry(t.clone())));
    }
    let epoch = match args.source_date_epoch {
        Some(e) => Some(e),
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.is_empty() => Some(v.parse::<i64>().map_err(|_| {
                Failure::usage(format!(
                    "SOURCE_DATE_EPOCH={v:?} is not a whole number of seconds"
                ))
            })?),
            _ => None,
        },
    };
    let display = crate::progress::for_mode(if quiet {
        ProgressMode::Quiet
    } else {
        args.progress
    });
    let registry = args.registry.options(!quiet);
    let cache_to = args
        .cache_to
        .iter()
        .map(|s| kiln_registry::cache::parse_cache_to(s).map_err(Failure::usage))
        .collect::<Result<Vec<_>, _>>()?;
    // Warnings even with JSON progress (as registry progress lines): a cache that is
    // silently skipped makes a slow build nobody can explain.
    let cache_from = crate::build_cache::open_all(&args.cache_from, &registry, !quiet)?;
    let max_layer_size = max_layer_size(&args.max_layer_size)?;
    let cache_mount_scope = kiln_engine::build::mounts::cache::Scope::parse(
        &args.cache_mount_scope,
        (!from_tar).then_some(args.context.as_path()),
    )
    .map_err(Failure::usage)?;
    let step_timeout = match args.timeout.as_deref() {
        None => None,
        Some(t) => match kiln_engine::build::duration::parse(t) {
            Ok(d) if d.is_zero() => {
                return Err(Failure::usage(format!(
                    "--timeout {t}: give a positive duration, e.g. 90s or 10m (leave it out for no limit)"
                )))
            }
            Ok(d) => Some(d),
            Err(e) => return Err(Failure::usage(format!("--timeout: {e}"))),
        },
    };
    // SIGINT/SIGTERM from here on stop the build cleanly (see signals.rs).
    let cancel = crate::signals::cancel_on_signals()?;
    let opts = BuildOptions {
        dockerfile,
        dockerfile_path,
        dockerfile_in_context,
        on_dockerfile,
        context,
        tags: args.tags.clone(),
        build_args: crate::build_args::parse(&args.build_args)?,
        target: args.target.clone(),
        labels,
        platform: args.platform.clone(),
        outputs,
        source_date_epoch: epoch,
        sandbox: sandbox_options(&args)?,
        isolation: kiln_engine::build::isolation::open(
            args.runtime.as_deref(),
            &args.runtime_flags,
        )
        .map_err(|e| render_failure(&e, None))?,
        storage_driver: args
            .storage_driver
            .as_deref()
            .map(kiln_engine::build::StorageDriver::parse)
            .transpose()
            .map_err(Failure::usage)?,
        max_layer_size,
        cache_mount_scope,
        secrets: args
            .secrets
            .iter()
            .map(|s| kiln_engine::build::mounts::secrets::SecretSpec::parse(s))
            .collect::<Result<_, _>>()
            .map_err(Failure::usage)?,
        ssh: args
            .ssh
            .iter()
            .map(|s| kiln_engine::build::mounts::secrets::SshSpec::parse(s))
            .collect::<Result<_, _>>()
            .map_err(Failure::usage)?,
        registry: Some(registry),
        push: kiln_registry::PushOptions {
            compression: args.compression.map(|c| c.to_compression()),
        },
        reporter: display
            .clone()
            .map(|d| Arc::new(crate::progress::Shared(d)) as Arc<dyn Reporter>),
        squash: squash_option(&args),
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        pull: args.pull,
        jobs: match args.jobs {
            Some(0) => return Err(Failure::usage("--jobs 0: give at least 1")),
            Some(n) => n,
            None => 0,
        },
        cache_from,
        cache_to,
        step_timeout,
        cancel: Some(cancel.clone()),
    };
    let built = build(&store, opts);
    if let Some(d) = &display {
        d.finish();
    }
    if let Some(signal) = cancel.cancelled() {
        return Err(crate::signals::interrupted(signal));
    }
    let built = built.map_err(|f| render_failure(&f.error, f.dockerfile.as_ref()))?;
    if !built.unused_build_args.is_empty() && !quiet {
        eprintln!(
            "warning: build args not used by any ARG: {}",
            built.unused_build_args.join(", ")
        );
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, built.id.to_string()).map_err(|e| {
            Failure::new(
                IO,
                format!("error: cannot write --iidfile {}: {e}", path.display()),
            )
        })?;
    }
    if let Some(path) = &args.metadata_file {
        write_metadata(path, &built)?;
    }
    if quiet {
        crate::output::stdout(&format!("{}\n", built.id))
    } else {
        let mut text = String::new();
        for n in &built.names {
            text.push_str(&format!("Tagged {n}\n"));
        }
        for p in &built.pushed {
            text.push_str(&format!("Pushed {}@{}\n", p.reference, p.digest));
        }
        for p in &built.cache_exported {
            text.push_str(&format!("Exported cache {}@{}\n", p.reference, p.digest));
        }
        text.push_str(&format!("{}\n", built.id));
        crate::output::stdout(&text)
    }
}

/// `--network`, `--allow`, `--memory`, `--pids-limit`, `--cpus`, `--cap-add/--cap-drop`,
/// `--security-opt`.
/// `--metadata-file`: the keys `docker buildx build --metadata-file` writes.
fn write_metadata(
    path: &std::path::Path,
    built: &kiln_engine::build::Built,
) -> Result<(), Failure> {
    let mut v = serde_json::json!({
        "containerimage.digest": built.manifest.to_string(),
        "containerimage.config.digest": built.id.to_string(),
        "containerimage.descriptor": {
            "mediaType": kiln_oci::media::OCI_MANIFEST,
            "digest": built.manifest.to_string(),
            "size": built.manifest_size,
        },
    });
    if !built.names.is_empty() {
        v["image.name"] = serde_json::json!(built.names.join(","));
    }
    let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
    text.push('\n');
    std::fs::write(path, text).map_err(|e| {
        Failure::new(
            IO,
            format!(
                "error: cannot write --metadata-file {}: {e}",
                path.display()
            ),
        )
    })
}

/// `--max-layer-size`: a size, or 0 for no limit.
fn max_layer_size(spec: &str) -> Result<Option<u64>, Failure> {
    if spec.trim() == "0" {
        return Ok(None);
    }
    parse_bytes(spec).map(Some).ok_or_else(|| {
        Failure::usage(format!(
            "--max-layer-size {spec:?}: expected a size like 500m or 40g (0 for no limit)"
        ))
    })
}

/// `--memory`, `--pids-limit`, `--cpus`, `--cap-add/--cap-drop`, `--security-opt`.
fn sandbox_options(args: &BuildArgs) -> Result<kiln_engine::build::SandboxOptions, Failure> {
    let memory = args
        .memory
        .as_deref()
        .map(|m| {
            parse_bytes(m).ok_or_else(|| {
                Failure::usage(format!("--memory {m:?}: expected a size like 512m or 2g"))
            })
        })
        .transpose()?;
    if let Some(c) = args.cpus {
        if !(c > 0.0 && c.is_finite()) {
            return Err(Failure::usage(format!(
                "--cpus {c}: expected a positive number"
            )));
        }
    }
    for cap in args.cap_add.iter().chain(&args.cap_drop) {
        let name = cap.to_ascii_uppercase();
        let name = name.strip_prefix("CAP_").unwrap_or(&name);
        if name != "ALL" && !kiln_sandbox::ALL_CAPABILITIES.contains(&name) {
            return Err(Failure::usage(format!(
                "unknown capability {cap:?}: use names like CAP_NET_ADMIN or ALL"
            )));
        }
    }
    let mut seccomp = kiln_sandbox::SeccompPolicy::Default;
    for opt in &args.security_opt {
        match opt.split_once('=') {
            Some(("seccomp", "unconfined")) => seccomp = kiln_sandbox::SeccompPolicy::Unconfined,
            Some(("seccomp", path)) => {
                let json = std::fs::read_to_string(path).map_err(|e| {
                    Failure::new(
                        IO,
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
    let network = args
        .network
        .as_deref()
        .map(kiln_engine::build::Network::parse)
        .transpose()
        .map_err(|e| Failure::usage(format!("--network: {e}")))?
        .unwrap_or_default();
    let (mut allow_network_host, mut allow_insecure) = (false, false);
    for a in &args.allow {
        match a.as_str() {
            "network.host" => allow_network_host = true,
            "security.insecure" => allow_insecure = true,
            other => {
                return Err(Failure::usage(format!(
                    "--allow {other:?}: entitlements are network.host and security.insecure"
                )))
            }
        }
    }
    Ok(kiln_engine::build::SandboxOptions {
        network,
        allow_network_host,
        allow_insecure,
        memory,
        pids: match args.pids_limit {
            None => Some(kiln_engine::build::DEFAULT_PIDS_LIMIT),
            Some(n) if n <= 0 => None,
            Some(n) => Some(n as u64),
        },
        cpus: args.cpus,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        seccomp,
        network_deny: network_deny(&args.network_deny)?,
        max_download_size: args
            .max_download_size
            .as_deref()
            .map(|s| {
                crate::sizes::parse_bytes(s).ok_or_else(|| {
                    Failure::usage(format!(
                        "--max-download-size {s:?}: expected a size like 512m or 8g"
                    ))
                })
            })
            .transpose()?,
    })
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

fn render_failure(err: &BuildError, dockerfile: Option<&(String, String)>) -> Failure {
    let code = match err {
        BuildError::Context(ContextError::Refused { .. }) => INPUT_REJECTED,
        BuildError::Squash(e) => match e.kind() {
            kiln_oci::ErrorKind::Rejected => INPUT_REJECTED,
            _ => IO,
        },
        // Until the exit code comes from `err.kind()`, the variants split out of Output,
        // Store and Step keep their old codes (a pull failure, located at its FROM, 1).
        BuildError::Registry { .. } if err.span().is_none() => IO,
        BuildError::Store { .. }
        | BuildError::Output { .. }
        | BuildError::Write { .. }
        | BuildError::Io { .. }
        | BuildError::Internal { .. }
        | BuildError::Context(_) => IO,
        _ => INPUT_REJECTED,
    };
    let hint = err.hint();
    let message = match (err.span(), dockerfile) {
        (Some(span), Some((name, text))) => kiln_dockerfile::error::render(
            "error",
            &err.to_string(),
            span,
            hint.as_deref(),
            name,
            text,
        ),
        _ => {
            let mut m = format!("error: {err}");
            if let Some(h) = hint {
                m.push_str(&format!("\n = hint: {h}"));
            }
            m
        }
    };
    Failure::new(code, message)
}

/// An attestation flag that asks for something (`--sbom=false` asks for nothing).
fn asks(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| v != "false" && v != "0")
}

/// `docker build` flags whose feature kiln does not have yet: refused, never ignored, each
/// with what to do instead.
fn refuse_later(args: &BuildArgs) -> Result<(), Failure> {
    let l = &args.later;
    let refused: Vec<(&str, &str)> = [
        (
            !l.add_host.is_empty(),
            "--add-host",
            "host entries are for RUN, which comes later",
        ),
        (
            !l.build_context.is_empty(),
            "--build-context",
            "named build contexts come later; use COPY --from=STAGE or an image in the store",
        ),
        (asks(&l.sbom), "--sbom", "attestations come later"),
        (
            asks(&l.provenance),
            "--provenance",
            "attestations come later",
        ),
    ]
    .into_iter()
    .filter_map(|(set, name, why)| set.then_some((name, why)))
    .collect();
    if refused.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "{} not supported yet (refused rather than ignored)",
        refused
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (name, why) in refused {
        message.push_str(&format!("\n = hint: {name}: {why}"));
    }
    Err(Failure::usage(message))
}

/// `--squash` / `--squash-all` as the engine's option.
fn squash_option(args: &BuildArgs) -> kiln_engine::build::Squash {
    if args.squash_all {
        kiln_engine::build::Squash::All
    } else if args.squash {
        kiln_engine::build::Squash::New
    } else {
        kiln_engine::build::Squash::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_layer_size_default_is_the_engines_and_0_is_unlimited() {
        let default = crate::cli_image::BuildArgs::default_max_layer_size();
        assert_eq!(
            max_layer_size(default).ok().flatten(),
            Some(kiln_engine::build::DEFAULT_MAX_LAYER_SIZE)
        );
        assert_eq!(max_layer_size("0").ok(), Some(None));
        assert_eq!(max_layer_size("3m").ok(), Some(Some(3 << 20)));
        assert!(max_layer_size("lots").is_err());
    }
}
