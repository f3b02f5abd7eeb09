//! One build from start to end: read the Dockerfile, plan it, check what the command line
//! asked for, make the build's state, run the stages, then store the image and write the
//! outputs.

use super::base::Resolve;
use super::error::BuildError;
use super::images::Images;
use super::layer::store_err;
use super::options::{BuildOptions, Output, SandboxOptions};
use super::outcome::Built;
use super::run::StorageDriver;
use super::services::{NetworkSlot, Services};
use super::state::{BuildSpec, BuildState, CachePolicy, EndsStage};
use super::step_records::StepRecords;
use super::{entitlements, mounts, output, progress, remote_cache, schedule, stage};
use crate::config::ImageConfig;
use crate::context::stat_cache::StatCache;
use crate::context::{Context, ContextSource, DockerfileAt};
use kiln_dockerfile::instructions::{self, Command};
use kiln_dockerfile::plan::{self, BuildArgs, Plan, PlanOptions};
use kiln_dockerfile::syntax;
use kiln_oci::Platform;
use kiln_oci::{Reference, Store};
use std::path::{Path, PathBuf};

/// Run the build; `shown` gets the Dockerfile's name and text once it is read.
pub(super) fn run(
    store: &Store,
    mut opts: BuildOptions,
    shown: &mut Option<(String, String)>,
) -> Result<Built, BuildError> {
    let scratch = store.temp_dir().map_err(|e| store_err(store, e))?;
    let (context, name, bytes) = open_dockerfile(&mut opts, scratch.path())?;
    *shown = Some((name.clone(), String::from_utf8_lossy(&bytes).into_owned()));
    let plan = plan_build(&opts, &bytes)?;
    if let Some(hook) = opts.on_dockerfile.take() {
        hook(&name, &bytes, &plan);
    }
    refuse_unsupported(&plan, &opts.sandbox, &name)?;
    let tags = parse_tags(&opts.tags)?;
    check_push_names(&opts.outputs)?;
    let mut secrets = mounts::secrets::Secrets::new();
    for spec in &opts.secrets {
        let value = spec
            .read()
            .map_err(|message| BuildError::Option { message })?;
        secrets.insert(spec.id.clone(), value);
    }
    let spec = build_spec(&opts, &plan, &name, &context, secrets, scratch.path())?;
    let services = services(store, scratch.path(), &mut opts, &context, &spec);
    let cx = BuildState::new(
        spec,
        services,
        progress::Progress::new(opts.reporter.clone()),
        BuildArgs::new(opts.build_args.clone()),
    );
    let built = schedule::run_stages(&plan, opts.jobs, |i| {
        // However the stage ends (a panic too), the steps waiting for it are told.
        let _ended = EndsStage { cx: &cx, index: i };
        let r = stage::run(&cx, i);
        if let Some(vm) = &cx.services.vm {
            vm.release(i);
        }
        cx.finish_stage(i, r?);
        Ok(())
    });
    cx.services.stat.save();
    built?;
    finish(&cx, &opts, &tags)
}

/// The build context, opened, and the Dockerfile's name and bytes (given, from standard
/// input, or read from the context); `.dockerignore` is loaded.
fn open_dockerfile(
    opts: &mut BuildOptions,
    scratch: &Path,
) -> Result<(Context, String, Vec<u8>), BuildError> {
    let source = std::mem::replace(&mut opts.context, ContextSource::Dir(".".into()));
    let mut context = Context::open(source, scratch)?;
    let (name, bytes, from_context) = match opts.dockerfile.take() {
        Some((name, bytes)) => (name, bytes, false),
        None => match (context.stdin_dockerfile.take(), &opts.dockerfile_in_context) {
            (Some(bytes), _) => ("<stdin>".to_string(), bytes, false),
            (None, Some(rel)) => {
                let (name, bytes) = context.read_dockerfile(rel)?;
                (name, bytes, true)
            }
            (None, None) => {
                let (name, bytes) = context.read_default_dockerfile()?;
                (name, bytes, true)
            }
        },
    };
    let at = if from_context {
        Some(DockerfileAt::Context(&name))
    } else {
        opts.dockerfile_path.as_deref().map(DockerfileAt::Host)
    };
    context.load_ignore(at)?;
    Ok((context, name, bytes))
}

/// Parse the Dockerfile and plan the build for `--platform`, `--target` and the build args.
fn plan_build(opts: &BuildOptions, bytes: &[u8]) -> Result<Plan, BuildError> {
    let ast = syntax::parse_bytes(bytes)?;
    let df = instructions::from_ast(&ast)?;
    let host = Platform::host();
    let target_platform = match &opts.platform {
        Some(p) => Some(target_platform(p, &host)?),
        None => None,
    };
    Ok(plan::plan(
        df,
        &PlanOptions {
            build_args: opts.build_args.clone(),
            target: opts.target.clone(),
            build_platform: host,
            target_platform,
        },
    )?)
}

/// `--platform`, which must be the host's.
fn target_platform(given: &str, host: &Platform) -> Result<Platform, BuildError> {
    let p = Platform::parse(given).map_err(|e| BuildError::Unsupported {
        message: e.to_string(),
        hint: "write --platform os/arch, e.g. linux/amd64".into(),
    })?;
    if p.os != host.os || p.arch != host.arch {
        return Err(BuildError::Unsupported {
            message: format!("cannot build for {p} on {host}"),
            hint: "kiln builds for the host's platform only".into(),
        });
    }
    Ok(p)
}

/// `-t` names, checked before any step runs.
fn parse_tags(tags: &[String]) -> Result<Vec<Reference>, BuildError> {
    tags.iter()
        .map(|t| {
            Reference::parse_normalized(t).map_err(|e| BuildError::Option {
                message: format!("invalid tag {t:?}: {e}"),
            })
        })
        .collect()
}

/// `type=registry,name=` outputs, checked before any step runs (the push parses them
/// again).
fn check_push_names(outputs: &[Output]) -> Result<(), BuildError> {
    for out in outputs {
        if let Output::Registry(name) = out {
            Reference::parse_normalized(name).map_err(|e| BuildError::Option {
                message: format!("cannot push to {name:?}: {e}"),
            })?;
        }
    }
    Ok(())
}

/// What is fixed for this build.
fn build_spec<'a>(
    opts: &BuildOptions,
    plan: &'a Plan,
    dockerfile: &'a str,
    context: &'a Context,
    secrets: mounts::secrets::Secrets,
    scratch: &Path,
) -> Result<BuildSpec<'a>, BuildError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let epoch = opts.source_date_epoch;
    Ok(BuildSpec {
        plan,
        dockerfile,
        context,
        epoch,
        now,
        created: kiln_oci::time::rfc3339(epoch.unwrap_or(now).max(0) as u64),
        storage_driver: match opts.storage_driver {
            Some(d) => d,
            None if kiln_layer::snapshot::overlay_supported(&probe_dir(scratch)?) => {
                StorageDriver::Overlay
            }
            None => StorageDriver::Vfs,
        },
        max_layer_size: opts.max_layer_size,
        cache_mount_scope: opts.cache_mount_scope.clone(),
        sandbox: opts.sandbox.clone(),
        cache: CachePolicy {
            no_cache: opts.no_cache,
            no_cache_filter: opts.no_cache_filter.clone(),
            resolve: if opts.pull {
                Resolve::Pull
            } else {
                Resolve::Local
            },
        },
        secrets,
        ssh: opts.ssh.clone(),
        control: kiln_sandbox::RunControl {
            timeout: opts.step_timeout,
            cancel: opts.cancel.clone(),
        },
    })
}

/// The services the steps of this build use.
fn services<'a>(
    store: &'a Store,
    scratch: &'a Path,
    opts: &mut BuildOptions,
    context: &Context,
    spec: &BuildSpec<'_>,
) -> Services<'a> {
    let stat = if context.is_dir() {
        StatCache::load(store, &context.dir)
    } else {
        StatCache::in_memory()
    };
    Services {
        store,
        scratch,
        steps: StepRecords::new(store, std::mem::take(&mut opts.cache_from), spec.now),
        stat,
        images: Images::new(
            store,
            scratch,
            opts.registry.clone(),
            spec.plan.target_platform.clone(),
            spec.cache.resolve,
        ),
        network: NetworkSlot::default(),
        isolation: opts.isolation.clone(),
        vm: opts.vm.clone(),
    }
}

/// After every stage ran: the target's image stored and tagged, the outputs written, the
/// cache exported.
fn finish(
    cx: &BuildState<'_>,
    opts: &BuildOptions,
    tags: &[Reference],
) -> Result<Built, BuildError> {
    let store = cx.services.store;
    let plan = cx.spec.plan;
    // Unused by every stage's ARGs and by the global ARGs the FROM lines use.
    let unused: Vec<String> = cx
        .args
        .lock()
        .map(|a| a.unused())
        .unwrap_or_default()
        .into_iter()
        .filter(|a| plan.unused_build_args.contains(a))
        .collect();
    let Some(result) = cx.stage(plan.target) else {
        return Err(BuildError::Internal {
            message: "the target stage produced no result".into(),
        });
    };
    let mut config: ImageConfig = result.config.clone();
    // As BuildKit: the image was created when its last step was (a cached rebuild gives
    // the same image).
    config.created = Some(
        config
            .history
            .last()
            .and_then(|h| h.created.clone())
            .unwrap_or_else(|| cx.spec.created.clone()),
    );
    for (k, v) in &opts.labels {
        config.config.labels.insert(k.clone(), v.clone());
    }
    let layers = squash(cx, opts.squash, result, &mut config)?;
    let image = output::store_image(store, &config, &layers)?;
    // Only an aid to `kiln audit`: a build does not fail for want of it. A squashed
    // image's layers are no longer the steps'.
    let record = match opts.squash {
        super::Squash::None => result.lines.record(cx.spec.dockerfile, &layers),
        _ => None,
    };
    if let Some(rec) = record {
        let _ = store.put_build_record(&image.config, &rec);
    }
    let mut names = Vec::new();
    for r in tags {
        store
            .tag(r, &image.manifest)
            .map_err(|e| store_err(store, e))?;
        names.push(r.to_string());
    }
    let mut pushed = Vec::new();
    for out in &opts.outputs {
        let began = std::time::Instant::now();
        cx.progress.output(out, progress::OutputPhase::Begin);
        if let Some(p) = output::write(store, &image, result, out, opts)? {
            pushed.push(p);
        }
        let took = progress::OutputPhase::Done(began.elapsed());
        cx.progress.output(out, took);
    }
    let cache_exported = remote_cache::export_all(cx, &opts.cache_to, opts.registry.as_ref())?;
    Ok(Built {
        id: image.config,
        manifest_size: store
            .blob_size(&image.manifest)
            .map_err(|e| store_err(store, e))?,
        manifest: image.manifest,
        names,
        unused_build_args: unused,
        pushed,
        files_hashed: cx.services.stat.hashed(),
        cache_exported,
        cache_imported: cx.services.steps.imported(),
    })
}

/// `--squash` / `--squash-all`: the target's layers (squashed as asked, `config` updated),
/// the sizes before and after reported as a step of the progress output.
fn squash(
    cx: &BuildState<'_>,
    mode: super::Squash,
    result: &super::stage::StageResult,
    config: &mut ImageConfig,
) -> Result<Vec<kiln_oci::LayerRef>, BuildError> {
    let (keep, flag) = match mode {
        super::Squash::None => return Ok(result.layers.clone()),
        super::Squash::New => (result.base_layers, "--squash"),
        super::Squash::All => (0, "--squash-all"),
    };
    let step = cx.progress.step("squash", format!("SQUASH ({flag})"));
    let what = format!("kiln build {flag}");
    let out = crate::squash::squash(
        cx.services.store,
        config,
        &result.layers,
        keep,
        config.created.clone(),
        cx.spec.epoch,
        &what,
    );
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            step.error(&e.to_string());
            return Err(BuildError::Squash(Box::new(e)));
        }
    };
    step.log(&crate::squash::describe(&out));
    step.done();
    *config = out.config;
    Ok(out.layers)
}

/// An empty directory for probing overlay support.
fn probe_dir(scratch: &Path) -> Result<PathBuf, BuildError> {
    let p = scratch.join("overlay-probe");
    std::fs::create_dir_all(&p).map_err(|e| BuildError::Io {
        what: "cannot create".into(),
        path: p.clone(),
        source: e,
    })?;
    Ok(p)
}

/// Stop before doing any work when a needed stage uses a RUN feature kiln does not have yet,
/// or one the command line did not allow (`--allow network.host`, `--allow security.insecure`).
/// Early feedback only: the step itself is checked again right before it runs
/// ([`entitlements::confinement`]), whatever it came from.
fn refuse_unsupported(
    plan: &Plan,
    sandbox: &SandboxOptions,
    dockerfile: &str,
) -> Result<(), BuildError> {
    for &i in &plan.order {
        for ins in &plan.dockerfile.stages[i].instructions {
            let Command::Run(run) = &ins.command else {
                continue;
            };
            entitlements::check(
                run,
                sandbox,
                &entitlements::Origin::Dockerfile,
                ins.span,
                dockerfile,
            )?;
            if let Some(d) = run.devices.first() {
                return Err(
                    BuildError::step(d.span, "RUN --device is not supported yet")
                        .with_hint("remove the flag"),
                );
            }
        }
    }
    Ok(())
}
