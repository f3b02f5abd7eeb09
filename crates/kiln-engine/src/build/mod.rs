//! `kiln build`: Dockerfile + context -> image in the store (and extra outputs).

mod base;
mod error;
mod layer;
mod options;
mod output;
mod run;
mod stage;

/// Pulls a base image into the store (for `--pull`: compare
/// `kiln_registry::resolve(...)` with the stored manifest digest, then pull).
pub use base::pull as pull_base_image;
pub use base::Rootfs;
pub use error::BuildError;
pub use options::{BuildOptions, DockerfileHook, Output, SandboxOptions};
pub use output::export_rootfs;
pub use run::StorageDriver;

use crate::config::ImageConfig;
use crate::context::{Context, DockerfileAt};
use kiln_dockerfile::instructions::{self, Command};
use kiln_dockerfile::plan::{self, BuildArgs, Plan, PlanOptions};
use kiln_dockerfile::platform::Platform;
use kiln_dockerfile::{syntax, Span};
use kiln_oci::{Digest, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The built image.
#[derive(Debug, Clone)]
pub struct Built {
    /// Image ID (the config digest), as `docker build -q` prints it.
    pub id: Digest,
    pub manifest: Digest,
    pub names: Vec<String>,
    /// Build args no ARG used.
    pub unused_build_args: Vec<String>,
    /// Registry outputs: where the image went and its manifest digest there.
    pub pushed: Vec<kiln_registry::Pushed>,
}

/// A failed build, with the Dockerfile it was about (for showing the failing line).
#[derive(Debug)]
pub struct Failed {
    pub error: BuildError,
    /// The Dockerfile's name and text, when it was read.
    pub dockerfile: Option<(String, String)>,
}

/// Shared state of one build.
pub(crate) struct BuildContext<'a> {
    pub plan: &'a Plan,
    pub store: &'a Store,
    pub scratch: &'a Path,
    pub context: &'a Context,
    pub build_args: BuildArgs,
    pub epoch: Option<i64>,
    pub now: i64,
    /// RFC 3339 creation time written into the config and history.
    pub created: String,
    pub progress: bool,
    /// How RUN steps get their filesystem.
    pub storage_driver: StorageDriver,
    /// Confinement of RUN steps beyond Docker's defaults.
    pub sandbox: SandboxOptions,
    /// Root filesystems of images used with COPY --from=IMAGE.
    images: HashMap<String, Rootfs>,
    /// How to reach registries (base images not in the store are pulled); `None`: never.
    pub registry: Option<kiln_registry::RegistryOptions>,
}

impl BuildContext<'_> {
    pub fn progress(&self, line: &str) {
        if self.progress {
            eprintln!("{line}");
        }
    }

    pub fn image_rootfs(&mut self, name: &str, span: Span) -> Result<&Rootfs, BuildError> {
        if !self.images.contains_key(name) {
            let img = base::image(
                self.store,
                self.registry.as_ref(),
                name,
                span,
                &self.plan.target_platform,
            )?;
            let fs = Rootfs::new(self.scratch)?;
            fs.unpack(self.store, &img.layers)?;
            self.images.insert(name.to_string(), fs);
        }
        self.images
            .get(name)
            .ok_or_else(|| BuildError::step(span, format!("image {name} could not be prepared")))
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
    *shown = Some((name, String::from_utf8_lossy(&bytes).into_owned()));
    let ast = syntax::parse_bytes(&bytes)?;
    let df = instructions::from_ast(&ast)?;
    let host = Platform::host();
    let target_platform = match &opts.platform {
        Some(p) => {
            let p = Platform::parse(p).map_err(|message| BuildError::Unsupported {
                message,
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
    refuse_unsupported(&plan)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let epoch = opts.source_date_epoch;
    let mut cx = BuildContext {
        plan: &plan,
        store,
        scratch: scratch.path(),
        context: &context,
        build_args: BuildArgs::new(opts.build_args.clone()),
        epoch,
        now,
        created: kiln_oci::time::rfc3339(epoch.unwrap_or(now).max(0) as u64),
        progress: opts.progress,
        storage_driver: match opts.storage_driver {
            Some(d) => d,
            None if kiln_layer::snapshot::overlay_supported(&probe_dir(scratch.path())?) => {
                StorageDriver::Overlay
            }
            None => StorageDriver::Vfs,
        },
        sandbox: opts.sandbox.clone(),
        images: HashMap::new(),
        registry: opts.registry.clone(),
    };
    let mut done: Vec<Option<stage::StageResult>> = (0..plan.stages.len()).map(|_| None).collect();
    for &i in &plan.order {
        let result = stage::run(&mut cx, i, &done)?;
        done[i] = Some(result);
    }
    let unused = cx.build_args.unused();
    let Some(result) = done[plan.target].take() else {
        return Err(BuildError::Output {
            message: "the target stage produced no result".into(),
        });
    };
    let mut config: ImageConfig = result.config.clone();
    config.created = Some(cx.created.clone());
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
        if let Some(p) = output::write(store, &image, &result, out, &opts)? {
            pushed.push(p);
        }
    }
    Ok(Built {
        id: image.config,
        manifest: image.manifest,
        names,
        unused_build_args: unused,
        pushed,
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

/// Stop before doing any work when a needed stage uses a RUN feature kiln does not have yet.
fn refuse_unsupported(plan: &Plan) -> Result<(), BuildError> {
    for &i in &plan.order {
        for ins in &plan.dockerfile.stages[i].instructions {
            let Command::Run(run) = &ins.command else {
                continue;
            };
            let refuse = |span: Span, what: &str, hint: &str| {
                Err(BuildError::step(span, format!("{what} is not supported yet")).with_hint(hint))
            };
            if let Some(m) = run.mounts.first() {
                return refuse(m.span, "RUN --mount", "cache, secret, bind, tmpfs and ssh mounts come with the next version; copy what the step needs with COPY for now");
            }
            if !run.command.files.is_empty() {
                return refuse(
                    ins.span,
                    "RUN with a heredoc",
                    "write the script with COPY <<EOF /script.sh and RUN sh /script.sh for now",
                );
            }
            if let Some(n) = run.network.as_ref().filter(|n| n.value == "host") {
                return refuse(n.span, "RUN --network=host", "steps run without network access for now; fetch inputs with ADD URL --checksum");
            }
            if let Some(s) = run.security.as_ref().filter(|s| s.value == "insecure") {
                return refuse(
                    s.span,
                    "RUN --security=insecure",
                    "remove the flag: steps run with Docker's default confinement",
                );
            }
            if let Some(d) = run.devices.first() {
                return refuse(d.span, "RUN --device", "remove the flag");
            }
        }
    }
    Ok(())
}
