//! `kiln build`: Dockerfile + context -> image in the store (and extra outputs).

mod base;
pub mod cache;
mod copy_step;
pub mod duration;
mod entitlements;
mod error;
mod export_dir;
mod layer;
mod mount_from;
pub mod mounts;
mod options;
mod output;
pub mod progress;
mod remote_cache;
mod run;
mod run_command;
mod schedule;
mod stage;
mod step;
mod view;

pub use base::{Resolve, Rootfs};
pub use error::BuildError;
pub use export_dir::export_rootfs;
pub use layer::DEFAULT_MAX_LAYER_SIZE;
pub use options::{
    BuildOptions, DockerfileHook, Network, Output, SandboxOptions, DEFAULT_PIDS_LIMIT,
};
pub use run::StorageDriver;

use crate::config::ImageConfig;
use crate::context::stat_cache::StatCache;
use crate::context::{Context, DockerfileAt};
use kiln_dockerfile::instructions::{self, Command};
use kiln_dockerfile::plan::{self, BuildArgs, Plan, PlanOptions};
use kiln_dockerfile::{syntax, Span};
use kiln_oci::Platform;
use kiln_oci::{Digest, StepCache, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The built image.
#[derive(Debug, Clone)]
pub struct Built {
    /// Image ID (the config digest), as `docker build -q` prints it.
    pub id: Digest,
    pub manifest: Digest,
    /// Size of the manifest blob in bytes.
    pub manifest_size: u64,
    pub names: Vec<String>,
    /// Build args no ARG used.
    pub unused_build_args: Vec<String>,
    /// Registry outputs: where the image went and its manifest digest there.
    pub pushed: Vec<kiln_registry::Pushed>,
    /// Context files read and hashed for cache keys (the rest came from the stat cache).
    pub files_hashed: u64,
    /// `--cache-to` exports: where each cache went and its manifest digest there.
    pub cache_exported: Vec<kiln_registry::Pushed>,
    /// Steps whose records came from a `--cache-from` cache.
    pub cache_imported: usize,
}

/// A failed build, with the Dockerfile it was about (for showing the failing line).
#[derive(Debug)]
pub struct Failed {
    pub error: BuildError,
    /// The Dockerfile's name and text, when it was read.
    pub dockerfile: Option<(String, String)>,
}

/// How the step cache is used in one build.
#[derive(Debug, Clone, Default)]
pub(crate) struct CachePolicy {
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub resolve: Resolve,
}

impl CachePolicy {
    /// May steps of this stage come from the cache?
    pub fn usable(&self, s: &kiln_dockerfile::plan::PlannedStage) -> bool {
        if self.no_cache {
            return false;
        }
        !self.no_cache_filter.iter().any(|f| {
            s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(f))
                || *f == s.index.to_string()
        })
    }
}

/// Shared state of one build (shared by the threads of parallel stages).
pub(crate) struct BuildContext<'a> {
    pub plan: &'a Plan,
    /// The Dockerfile's name, for messages about steps that did not come from one of its
    /// lines (`Dockerfile:12`).
    pub dockerfile: &'a str,
    pub store: &'a Store,
    pub scratch: &'a Path,
    pub context: &'a Context,
    pub build_args: Mutex<BuildArgs>,
    pub epoch: Option<i64>,
    pub now: i64,
    /// RFC 3339 creation time written into the config and history.
    pub created: String,
    pub progress: progress::Progress,
    /// How RUN steps get their filesystem.
    pub storage_driver: StorageDriver,
    /// `--max-layer-size`: most uncompressed bytes of one step's layer (`None`: no limit).
    pub max_layer_size: Option<u64>,
    /// `--cache-mount-scope`.
    pub cache_mount_scope: mounts::cache::Scope,
    /// Confinement of RUN steps beyond Docker's defaults.
    pub sandbox: SandboxOptions,
    pub cache: CachePolicy,
    pub steps: StepCache,
    /// Content digests of context files.
    pub stat: StatCache,
    /// Root filesystems of images used with COPY --from=IMAGE.
    images: Mutex<HashMap<String, Arc<Rootfs>>>,
    /// Image names as this build resolved them (see [`BuildContext::resolve_image`]).
    resolved: Mutex<HashMap<String, kiln_oci::StoredImage>>,
    /// The private network RUN steps share, started by the first step that needs it
    /// (`None` inside when it could not start: each step then makes its own and reports why
    /// that failed).
    network: OnceLock<Option<kiln_sandbox::SharedNetwork>>,
    /// How to reach registries (base images not in the store are pulled); `None`: never.
    pub registry: Option<kiln_registry::RegistryOptions>,
    /// Values of `--secret`s, by id.
    pub secrets: mounts::secrets::Secrets,
    /// `--ssh` agents.
    pub ssh: Vec<mounts::secrets::SshSpec>,
    /// What runs RUN steps.
    pub runtime: Runtime,
    /// What ends a RUN step early: `--timeout`, the build's cancellation flag.
    pub control: kiln_sandbox::RunControl,
    /// `--cache-from` caches, looked up when the store misses a step.
    pub remote: Vec<Arc<kiln_registry::cache::RemoteCache>>,
    /// Cache keys this build used or made, with their stage (for `--cache-to`).
    pub used: Mutex<Vec<(usize, Digest)>>,
    /// Steps imported from `remote`.
    pub imported: std::sync::atomic::AtomicUsize,
}

/// The runtime of RUN steps: the embedded one or an OCI runtime CLI (`--runtime`).
#[derive(Debug)]
pub(crate) enum Runtime {
    Embedded(kiln_sandbox::Embedded),
    External(kiln_sandbox::ExternalRuntime),
}

impl Runtime {
    pub fn sandbox(&self) -> &dyn kiln_sandbox::Sandbox {
        match self {
            Runtime::Embedded(e) => e,
            Runtime::External(e) => e,
        }
    }
}

impl BuildContext<'_> {
    /// Stop here when the build was cancelled.
    pub fn check_cancelled(&self) -> Result<(), BuildError> {
        match self.control.cancel.as_ref().and_then(|c| c.cancelled()) {
            Some(why) => Err(BuildError::Cancelled { why }),
            None => Ok(()),
        }
    }

    /// The build's shared private network (see [`kiln_sandbox::SharedNetwork`]).
    pub fn shared_network(&self) -> Option<&kiln_sandbox::SharedNetwork> {
        self.network
            .get_or_init(|| kiln_sandbox::SharedNetwork::start(&self.sandbox.network_deny).ok())
            .as_ref()
    }

    /// The build context as COPY reads it (`.dockerignore` applied, owners not kept).
    pub fn context_tree(&self) -> crate::copy::sources::SourceTree<'_> {
        crate::copy::sources::SourceTree {
            root: &self.context.root,
            ignore: Some(&self.context.ignore),
            label: "the build context".into(),
            keep_owners: false,
        }
    }

    /// `name` resolved to an image in the store ([`base::resolve`]), once per build: the
    /// cache key and the content of every step that names it come from the same image, and
    /// `--pull` asks the registry once. Stages running at the same time may both resolve
    /// a name; the first answer recorded is the one every step uses.
    pub fn resolve_image(
        &self,
        name: &str,
        span: Span,
    ) -> Result<kiln_oci::StoredImage, BuildError> {
        if let Some(s) = self.resolved.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(s);
        }
        let stored = base::resolve(
            self.store,
            self.registry.as_ref(),
            name,
            span,
            &self.plan.target_platform,
            self.cache.resolve,
        )?;
        Ok(match self.resolved.lock() {
            Ok(mut m) => m.entry(name.to_string()).or_insert(stored).clone(),
            Err(_) => stored,
        })
    }

    /// An image's root filesystem (unpacked once per build).
    pub fn image_rootfs(&self, name: &str, span: Span) -> Result<Arc<Rootfs>, BuildError> {
        let mut images = self.images.lock().map_err(|_| BuildError::Output {
            message: format!("image {name} could not be prepared"),
        })?;
        if let Some(fs) = images.get(name) {
            return Ok(fs.clone());
        }
        let img = base::image(self, name, span)?;
        let fs = Rootfs::new(self.scratch)?;
        fs.unpack(self.store, &img.layers)?;
        let fs = Arc::new(fs);
        images.insert(name.to_string(), fs.clone());
        Ok(fs)
    }
}

/// Build. On failure the error comes with the Dockerfile for showing where it failed.
pub fn build(store: &Store, opts: BuildOptions) -> Result<Built, Failed> {
    let mut dockerfile = None;
    let r = run(store, opts, &mut dockerfile);
    r.map_err(|error| Failed { error, dockerfile })
}

fn run(
    store: &Store,
    mut opts: BuildOptions,
    shown: &mut Option<(String, String)>,
) -> Result<Built, BuildError> {
    let scratch = store.temp_dir().map_err(|e| layer::store_err(store, e))?;
    let mut context = Context::open(
        std::mem::replace(
            &mut opts.context,
            crate::context::ContextSource::Dir(".".into()),
        ),
        scratch.path(),
    )?;
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
    if let Some(hook) = opts.on_dockerfile.take() {
        hook(&name, &bytes);
    }
    *shown = Some((name.clone(), String::from_utf8_lossy(&bytes).into_owned()));
    let ast = syntax::parse_bytes(&bytes)?;
    let df = instructions::from_ast(&ast)?;
    let host = Platform::host();
    let target_platform = match &opts.platform {
        Some(p) => {
            let p = Platform::parse(p).map_err(|e| BuildError::Unsupported {
                message: e.to_string(),
                hint: "write --platform os/arch, e.g. linux/amd64".into(),
            })?;
            if p.os != host.os || p.arch != host.arch {
                return Err(BuildError::Unsupported {
                    message: format!("cannot build for {p} on {host}"),
                    hint: "kiln builds for the host's platform only".into(),
                });
            }
            Some(p)
        }
        None => None,
    };
    let plan = plan::plan(
        df,
        &PlanOptions {
            build_args: opts.build_args.clone(),
            target: opts.target.clone(),
            build_platform: host,
            target_platform,
        },
    )?;
    refuse_unsupported(&plan, &opts.sandbox, &name)?;
    let runtime = match &opts.sandbox.runtime {
        None => Runtime::Embedded(kiln_sandbox::Embedded),
        Some(name) => Runtime::External(
            kiln_sandbox::ExternalRuntime::new(name, opts.sandbox.runtime_flags.clone()).map_err(
                |e| BuildError::Option {
                    message: format!("--runtime {name}: {e}"),
                },
            )?,
        ),
    };
    let mut secrets = mounts::secrets::Secrets::new();
    for spec in &opts.secrets {
        let value = spec
            .read()
            .map_err(|message| BuildError::Option { message })?;
        secrets.insert(spec.id.clone(), value);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let epoch = opts.source_date_epoch;
    let stat = if context.is_dir() {
        StatCache::load(store, &context.dir)
    } else {
        StatCache::in_memory()
    };
    let cx = BuildContext {
        plan: &plan,
        dockerfile: &name,
        store,
        scratch: scratch.path(),
        context: &context,
        build_args: Mutex::new(BuildArgs::new(opts.build_args.clone())),
        epoch,
        now,
        created: kiln_oci::time::rfc3339(epoch.unwrap_or(now).max(0) as u64),
        progress: progress::Progress::new(opts.reporter.clone()),
        storage_driver: match opts.storage_driver {
            Some(d) => d,
            None if kiln_layer::snapshot::overlay_supported(&probe_dir(scratch.path())?) => {
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
        steps: store.step_cache(),
        stat,
        images: Mutex::new(HashMap::new()),
        resolved: Mutex::new(HashMap::new()),
        secrets,
        ssh: opts.ssh.clone(),
        runtime,
        control: kiln_sandbox::RunControl {
            timeout: opts.step_timeout,
            cancel: opts.cancel.clone(),
        },
        network: OnceLock::new(),
        registry: opts.registry.clone(),
        remote: std::mem::take(&mut opts.cache_from),
        used: Mutex::new(Vec::new()),
        imported: std::sync::atomic::AtomicUsize::new(0),
    };
    let done: Vec<OnceLock<stage::StageResult>> =
        (0..plan.stages.len()).map(|_| OnceLock::new()).collect();
    let built = schedule::run_stages(&plan, opts.jobs, |i| {
        let r = stage::run(&cx, i, &done)?;
        let _ = done[i].set(r);
        Ok(())
    });
    cx.stat.save();
    built?;
    let unused = cx.build_args.lock().map(|a| a.unused()).unwrap_or_default();
    let Some(result) = done[plan.target].get() else {
        return Err(BuildError::Output {
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
            .unwrap_or_else(|| cx.created.clone()),
    );
    for (k, v) in &opts.labels {
        config.config.labels.insert(k.clone(), v.clone());
    }
    let image = output::store_image(store, &config, &result.layers)?;
    let mut names = Vec::new();
    for t in &opts.tags {
        let r = kiln_oci::Reference::parse_normalized(t).map_err(|e| BuildError::Output {
            message: format!("invalid tag {t:?}: {e}"),
        })?;
        store
            .tag(&r, &image.manifest)
            .map_err(|e| layer::store_err(store, e))?;
        names.push(r.to_string());
    }
    let mut pushed = Vec::new();
    for out in &opts.outputs {
        cx.progress.output(out, progress::OutputPhase::Begin);
        if let Some(p) = output::write(store, &image, result, out, &opts)? {
            pushed.push(p);
        }
        cx.progress.output(out, progress::OutputPhase::Done);
    }
    let cache_exported = remote_cache::export_all(&cx, &opts.cache_to)?;
    Ok(Built {
        id: image.config,
        manifest_size: store
            .blob_size(&image.manifest)
            .map_err(|e| layer::store_err(store, e))?,
        manifest: image.manifest,
        names,
        unused_build_args: unused,
        pushed,
        files_hashed: cx.stat.hashed(),
        cache_exported,
        cache_imported: cx.imported.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// An empty directory for probing overlay support.
fn probe_dir(scratch: &Path) -> Result<PathBuf, BuildError> {
    let p = scratch.join("overlay-probe");
    std::fs::create_dir_all(&p).map_err(|e| BuildError::Store {
        root: scratch.display().to_string(),
        message: format!("cannot create {}: {e}", p.display()),
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
