//! `kiln build`: the command line checked whole (`flags.rs`) before the store is opened or
//! any step runs, the Dockerfile found (`dockerfile.rs`), one call to the engine, and the
//! result or the failure reported (`report.rs`). Everything the build says on standard
//! error goes through the progress display.

mod dockerfile;
mod flags;
mod refused;
mod report;
mod sandbox_flags;
mod vm_flags;

use crate::cli_image::{BuildArgs, ProgressMode};
use crate::exit::Failure;
use crate::progress::Display;
use kiln_dockerfile::plan::Plan;
use kiln_engine::build::progress::Reporter;
use kiln_engine::build::{build, BuildOptions};
use kiln_engine::context::ContextSource;
use kiln_oci::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;

pub fn run(root: &Option<PathBuf>, args: BuildArgs) -> Result<(), Failure> {
    let (_, mode) = flags::progress_mode(&args);
    let display = crate::progress::for_mode(mode);
    match (build_and_report(root, &args, &display), &display) {
        // With JSON progress the failure is an event too: the stream holds JSON only.
        (Err(f), Some(d)) if mode == ProgressMode::Json => {
            d.message(&f.message);
            Err(Failure::new(f.kind, String::new()))
        }
        (result, _) => result,
    }
}

fn build_and_report(
    root: &Option<PathBuf>,
    args: &BuildArgs,
    display: &Option<Arc<dyn Display>>,
) -> Result<(), Failure> {
    refused::refuse_later(args)?;
    let from_tar = args.context.as_os_str() == "-";
    if !from_tar && !args.context.is_dir() {
        return Err(Failure::new(
            ErrorKind::Io,
            format!(
                "error: the build context {} is not a directory\n = hint: give a directory, or - to read a tarball from standard input",
                args.context.display()
            ),
        ));
    }
    let flags = flags::check(args, from_tar)?;
    let wants_vm = vm_flags::wants_vm(args, &flags.sandbox)?;
    // Before any thread starts: RUN overlays stay in kiln's own mount namespace,
    // so a killed build leaves no mount in the store. Best effort: without it,
    // builds work the same and `kiln prune` reports a leftover mount.
    let _ = kiln_sandbox::private_mounts();
    let store = crate::store::open(root)?;
    if args.check {
        return dockerfile::check(args, from_tar);
    }
    let dockerfile = dockerfile::source(args, from_tar)?;
    let quiet = flags.quiet;
    let vm = match wants_vm {
        true => Some(vm_flags::open(args, &flags.sandbox, &store)?),
        false => None,
    };
    if let (Some(vm), Some(d)) = (&vm, display) {
        d.message(&vm.describe());
    }
    let mut opts = options(args, flags, dockerfile, display)?;
    opts.vm = vm;
    let cancel = opts.cancel.clone();
    let built = build(&store, opts);
    if let Some(d) = display {
        d.finish();
    }
    if let Some(signal) = cancel.as_ref().and_then(|c| c.cancelled()) {
        return Err(crate::signals::interrupted(signal));
    }
    let built = built.map_err(|f| report::failure(&f.error, f.dockerfile.as_ref()))?;
    let wanted = report::Wanted {
        quiet,
        iidfile: args.iidfile.as_ref(),
        metadata_file: args.metadata_file.as_ref(),
    };
    report::built(&built, &wanted, display)
}

/// The engine's options: the checked flags, the Dockerfile, the progress display (which
/// also receives registry transfers and cache warnings), and SIGINT/SIGTERM handling.
fn options(
    args: &BuildArgs,
    flags: flags::Flags,
    dockerfile: dockerfile::DockerfileSource,
    display: &Option<Arc<dyn Display>>,
) -> Result<BuildOptions, Failure> {
    let context = if args.context.as_os_str() == "-" {
        ContextSource::Tar(Box::new(std::io::stdin()))
    } else {
        ContextSource::Dir(args.context.clone())
    };
    let registry = args.registry.options(crate::progress::transfers(display));
    let cache_from = crate::build_cache::open_all(&flags.cache_from, &registry, display);
    // SIGINT/SIGTERM from here on stop the build cleanly (see signals.rs).
    let cancel = crate::signals::cancel_on_signals(display.clone())?;
    Ok(BuildOptions {
        dockerfile: dockerfile.read,
        dockerfile_path: dockerfile.path,
        dockerfile_in_context: dockerfile.in_context,
        on_dockerfile: lint_warnings(flags.progress, args.no_lint, display),
        context,
        tags: args.tags.clone(),
        build_args: flags.build_args,
        target: args.target.clone(),
        labels: flags.labels,
        platform: flags.platform,
        outputs: flags.outputs,
        source_date_epoch: flags.source_date_epoch,
        sandbox: flags.sandbox,
        isolation: flags.isolation,
        vm: None,
        storage_driver: flags.storage_driver,
        max_layer_size: flags.max_layer_size,
        cache_mount_scope: flags.cache_mount_scope,
        secrets: flags.secrets,
        ssh: flags.ssh,
        registry: Some(registry),
        push: kiln_registry::PushOptions {
            compression: args.compression.map(|c| c.to_compression()),
        },
        reporter: display
            .clone()
            .map(|d| Arc::new(crate::progress::Shared(d)) as Arc<dyn Reporter>),
        squash: flags::squash(args),
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        pull: args.pull,
        jobs: flags.jobs,
        cache_from,
        cache_to: flags.cache_to,
        step_timeout: flags.step_timeout,
        cancel: Some(cancel),
    })
}

/// Lint warnings on the Dockerfile alone, before the build starts (the context is
/// untrusted and is only read inside its root by the build itself), for the lines the
/// target needs (stages `--target` skips are not built), without the findings about image
/// size in stages the image only copies files from. Not with JSON progress, whose
/// stream holds events only, nor when quiet, nor with `--no-lint`.
fn lint_warnings(
    mode: ProgressMode,
    no_lint: bool,
    display: &Option<Arc<dyn Display>>,
) -> Option<kiln_engine::build::DockerfileHook> {
    let display = display.clone()?;
    if mode == ProgressMode::Json || no_lint {
        return None;
    }
    Some(Box::new(move |name: &str, bytes: &[u8], plan: &Plan| {
        let text = crate::commands::lint::build_warnings(name, bytes, plan);
        if !text.is_empty() {
            display.message(&text);
        }
    }))
}
