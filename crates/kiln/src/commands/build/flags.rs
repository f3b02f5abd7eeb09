//! The command line of `kiln build`, checked whole before the store is opened or any step
//! runs: tags, labels, outputs, cache specs, the platform, secrets (their files must be
//! readable), ssh sockets, the sandbox flags, `--timeout`, sizes. A mistake exits 2 with a
//! hint whose example is itself valid.

use super::sandbox_flags::sandbox_options;
use crate::cli_image::{BuildArgs, ProgressMode};
use crate::exit::Failure;
use crate::sizes::parse_bytes;
use kiln_engine::build::mounts::cache::Scope;
use kiln_engine::build::mounts::secrets::{SecretSpec, SshSpec};
use kiln_engine::build::{Output, SandboxOptions, StorageDriver};
use kiln_oci::Reference;
use kiln_registry::cache::{parse_cache_from, parse_cache_to, CacheTo};
use std::collections::BTreeMap;
use std::time::Duration;

/// The build's flags, checked.
pub struct Flags {
    pub quiet: bool,
    /// `--progress`, `quiet` when `-q`.
    pub progress: ProgressMode,
    pub labels: BTreeMap<String, String>,
    /// `--output`s, then the `-t` names with `--push`.
    pub outputs: Vec<Output>,
    pub source_date_epoch: Option<i64>,
    pub cache_from: Vec<Reference>,
    pub cache_to: Vec<CacheTo>,
    pub max_layer_size: Option<u64>,
    pub cache_mount_scope: Scope,
    pub step_timeout: Option<Duration>,
    pub platform: Option<String>,
    pub secrets: Vec<SecretSpec>,
    pub ssh: Vec<SshSpec>,
    pub sandbox: SandboxOptions,
    /// `--runtime`: what runs RUN steps.
    pub isolation: kiln_engine::build::Isolation,
    pub storage_driver: Option<StorageDriver>,
    pub build_args: BTreeMap<String, String>,
    pub jobs: usize,
}

/// Checks every flag of `args`; `from_tar`: the context comes from standard input.
pub fn check(args: &BuildArgs, from_tar: bool) -> Result<Flags, Failure> {
    check_tags(&args.tags)?;
    let (quiet, progress) = progress_mode(args);
    Ok(Flags {
        quiet,
        progress,
        labels: labels(&args.labels)?,
        outputs: outputs(args)?,
        source_date_epoch: source_date_epoch(args.source_date_epoch)?,
        cache_from: args
            .cache_from
            .iter()
            .map(|s| parse_cache_from(s).map_err(Failure::usage))
            .collect::<Result<_, _>>()?,
        cache_to: args
            .cache_to
            .iter()
            .map(|s| parse_cache_to(s).map_err(Failure::usage))
            .collect::<Result<_, _>>()?,
        max_layer_size: max_layer_size(&args.max_layer_size)?,
        cache_mount_scope: Scope::parse(
            &args.cache_mount_scope,
            (!from_tar).then_some(args.context.as_path()),
        )
        .map_err(Failure::usage)?,
        step_timeout: timeout(args.timeout.as_deref())?,
        platform: platform(args.platform.as_deref())?,
        secrets: secrets(&args.secrets)?,
        ssh: args
            .ssh
            .iter()
            .map(|s| SshSpec::parse(s))
            .collect::<Result<_, _>>()
            .map_err(Failure::usage)?,
        sandbox: sandbox_options(args)?,
        isolation: super::sandbox_flags::isolation(args)?,
        storage_driver: args
            .storage_driver
            .as_deref()
            .map(StorageDriver::parse)
            .transpose()
            .map_err(Failure::usage)?,
        build_args: crate::build_args::parse(&args.build_args)?,
        jobs: match args.jobs {
            Some(0) => return Err(Failure::usage("--jobs 0: give at least 1")),
            Some(n) => n,
            None => 0,
        },
    })
}

/// `--squash` / `--squash-all` as the engine's option.
pub fn squash(args: &BuildArgs) -> kiln_engine::build::Squash {
    if args.squash_all {
        kiln_engine::build::Squash::All
    } else if args.squash {
        kiln_engine::build::Squash::New
    } else {
        kiln_engine::build::Squash::None
    }
}

/// (`-q` or `--progress quiet`, the progress mode: quiet when `-q`).
pub fn progress_mode(args: &BuildArgs) -> (bool, ProgressMode) {
    let quiet = args.quiet || args.progress == ProgressMode::Quiet;
    (
        quiet,
        if quiet {
            ProgressMode::Quiet
        } else {
            args.progress
        },
    )
}

/// `-t`: names are checked before any step runs, not after the image was built.
fn check_tags(tags: &[String]) -> Result<(), Failure> {
    for t in tags {
        if let Err(e) = Reference::parse_normalized(t) {
            return Err(Failure::usage(format!("-t {t:?}: {e}")));
        }
    }
    Ok(())
}

/// `--label KEY=VALUE`.
fn labels(given: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut labels = BTreeMap::new();
    for l in given {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        if k.is_empty() {
            return Err(Failure::usage(format!("--label {l}: expected KEY=VALUE")));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(labels)
}

/// `--output` specs, and with `--push` a registry output per `-t` name.
fn outputs(args: &BuildArgs) -> Result<Vec<Output>, Failure> {
    let mut outputs = Vec::new();
    for spec in &args.outputs {
        let out = Output::parse(spec).map_err(Failure::usage)?;
        if let Output::Registry(name) = &out {
            Reference::parse_normalized(name).map_err(|e| {
                Failure::usage(format!(
                    "--output {spec:?}: name {name:?}: {e}; write name=REGISTRY/REPOSITORY[:TAG]"
                ))
            })?;
        }
        outputs.push(out);
    }
    if args.push {
        if args.tags.is_empty() {
            return Err(Failure::usage(
                "--push needs a name: give -t REGISTRY/REPOSITORY[:TAG]",
            ));
        }
        outputs.extend(args.tags.iter().map(|t| Output::Registry(t.clone())));
    }
    Ok(outputs)
}

/// `--source-date-epoch`, else `$SOURCE_DATE_EPOCH`.
fn source_date_epoch(flag: Option<i64>) -> Result<Option<i64>, Failure> {
    if flag.is_some() {
        return Ok(flag);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => v.parse::<i64>().map(Some).map_err(|_| {
            Failure::usage(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a whole number of seconds"
            ))
        }),
        _ => Ok(None),
    }
}

/// `--max-layer-size`: a size, or 0 for no limit.
pub fn max_layer_size(spec: &str) -> Result<Option<u64>, Failure> {
    if spec.trim() == "0" {
        return Ok(None);
    }
    parse_bytes(spec).map(Some).ok_or_else(|| {
        Failure::usage(format!(
            "--max-layer-size {spec:?}: expected a size like 500m or 40g (0 for no limit)"
        ))
    })
}

/// `--timeout`: a positive Go duration or seconds.
fn timeout(spec: Option<&str>) -> Result<Option<Duration>, Failure> {
    let Some(t) = spec else {
        return Ok(None);
    };
    match kiln_engine::build::duration::parse(t) {
        Ok(d) if d.is_zero() => Err(Failure::usage(format!(
            "--timeout {t}: give a positive duration, e.g. 90s or 10m (leave it out for no limit)"
        ))),
        Ok(d) => Ok(Some(d)),
        Err(e) => Err(Failure::usage(format!("--timeout: {e}"))),
    }
}

/// `--platform OS/ARCH[/VARIANT]`: its syntax (whether the host can build for it is the
/// engine's to say).
fn platform(spec: Option<&str>) -> Result<Option<String>, Failure> {
    let Some(p) = spec else {
        return Ok(None);
    };
    // The parser's message ends with a valid example (`e.g. linux/amd64`).
    kiln_oci::Platform::parse(p).map_err(|e| Failure::usage(format!("--platform: {e}")))?;
    Ok(Some(p.to_string()))
}

/// `--secret`: each spec parsed and its value readable now (a missing file is a mistake of
/// the command line, found before any step runs).
fn secrets(specs: &[String]) -> Result<Vec<SecretSpec>, Failure> {
    specs
        .iter()
        .map(|s| {
            let spec = SecretSpec::parse(s).map_err(Failure::usage)?;
            spec.read().map_err(Failure::usage)?;
            Ok(spec)
        })
        .collect()
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

    #[test]
    fn a_bad_platform_is_refused_with_a_hint_that_parses() {
        for bad in ["linux/amd64/v1/x", "linux/", "nonsense"] {
            let Err(f) = platform(Some(bad)) else {
                panic!("{bad} was accepted");
            };
            assert_eq!(f.kind, kiln_oci::ErrorKind::Usage);
            let example = f.message.rsplit("e.g. ").next().unwrap_or_default().trim();
            assert!(
                platform(Some(example)).is_ok(),
                "hint {example:?}: {}",
                f.message
            );
        }
        assert_eq!(
            platform(Some("linux/amd64")).ok(),
            Some(Some("linux/amd64".into()))
        );
    }
}
