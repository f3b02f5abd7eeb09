//! What a build is asked to do.

use crate::context::ContextSource;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// An extra place to write the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// OCI image layout directory.
    OciDir(PathBuf),
    OciArchive(PathBuf),
    DockerArchive(PathBuf),
    /// The root filesystem as plain files.
    Local(PathBuf),
    /// Pushed to a registry under this name (`type=registry,name=…`, `--push`).
    Registry(String),
}

impl std::fmt::Display for Output {
    /// The output in `--output` syntax (`type=oci,dest=DIR`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (typ, dest) = match self {
            Output::OciDir(d) => ("oci", d),
            Output::OciArchive(d) => ("oci-archive", d),
            Output::DockerArchive(d) => ("docker-archive", d),
            Output::Local(d) => ("local", d),
            Output::Registry(name) => return write!(f, "type=registry,name={name}"),
        };
        write!(f, "type={typ},dest={}", dest.display())
    }
}

impl Output {
    /// Parse `type=oci,dest=DIR` (docker's `--output` syntax; a bare path means `local`).
    pub fn parse(spec: &str) -> Result<Output, String> {
        if !spec.contains('=') {
            return Ok(Output::Local(PathBuf::from(spec)));
        }
        let mut typ = None;
        let mut dest = None;
        let mut name = None;
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("type", v)) => typ = Some(v.to_string()),
                Some(("dest", v)) => dest = Some(PathBuf::from(v)),
                Some(("name", v)) => name = Some(v.to_string()),
                // `push=true` is what type=registry means; BuildKit accepts it.
                Some(("push", "true")) => {}
                Some((k, _)) => {
                    return Err(format!(
                        "unknown --output key {k:?} in {spec:?}: keys are type, dest and (for type=registry) name"
                    ))
                }
                None => {
                    return Err(format!(
                        "invalid --output field {field:?}: expected key=value"
                    ))
                }
            }
        }
        if typ.as_deref() == Some("registry") {
            let name = name
                .ok_or_else(|| format!("--output {spec:?} needs name=REGISTRY/REPOSITORY[:TAG]"))?;
            return Ok(Output::Registry(name));
        }
        let dest = dest.ok_or_else(|| format!("--output {spec:?} needs dest=PATH"))?;
        match typ.as_deref() {
            Some("oci") => Ok(Output::OciDir(dest)),
            Some("oci-archive") => Ok(Output::OciArchive(dest)),
            Some("docker-archive") | Some("docker") => Ok(Output::DockerArchive(dest)),
            Some("local") => Ok(Output::Local(dest)),
            Some(t) => Err(format!(
                "unsupported --output type {t:?}: use oci, oci-archive, docker-archive, local or registry"
            )),
            None => Err(format!(
                "--output {spec:?} needs type=oci|oci-archive|docker-archive|local"
            )),
        }
    }
}

/// `--network`: the network of RUN steps that do not choose one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// A private network namespace with user-mode networking: the internet, not the host's
    /// loopback services.
    #[default]
    Default,
    /// Only a loopback interface.
    None,
    /// The host's network namespace.
    Host,
}

impl Network {
    pub fn parse(s: &str) -> Result<Network, String> {
        match s {
            "default" | "private" | "slirp4netns" => Ok(Network::Default),
            "none" => Ok(Network::None),
            "host" => Ok(Network::Host),
            other => Err(format!(
                "unknown network mode {other:?}: use default, none or host"
            )),
        }
    }

    pub fn mode(self) -> kiln_sandbox::NetworkMode {
        match self {
            Network::Default => kiln_sandbox::NetworkMode::Private,
            Network::None => kiln_sandbox::NetworkMode::None,
            Network::Host => kiln_sandbox::NetworkMode::Host,
        }
    }
}

/// The most processes a RUN step may have when `--pids-limit` is not given (Podman's
/// default): a fork bomb in a step stops there instead of exhausting the host.
pub const DEFAULT_PIDS_LIMIT: u64 = 2048;

/// How RUN steps are confined beyond Docker's defaults (`--memory`, `--cap-add`, ...).
/// The default is Docker's confinement with [`DEFAULT_PIDS_LIMIT`].
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// `--network`.
    pub network: Network,
    /// `--allow network.host`: `RUN --network=host` may share the host's network.
    pub allow_network_host: bool,
    /// `--allow security.insecure`: `RUN --security=insecure` may run privileged.
    pub allow_insecure: bool,
    pub memory: Option<u64>,
    /// Most processes of a step; `None`: no limit.
    pub pids: Option<u64>,
    pub cpus: Option<f64>,
    /// Capabilities added to / dropped from Docker's default set (`ALL` allowed).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub seccomp: kiln_sandbox::SeccompPolicy,
    /// `--network-deny`: ranges the default network (and ADD downloads) refuse besides
    /// loopback, link-local and the host's own addresses.
    pub network_deny: Vec<kiln_sandbox::Cidr>,
    /// `--max-download-size`: largest ADD download in bytes (`None`: 4 GiB).
    pub max_download_size: Option<u64>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            network: Network::default(),
            allow_network_host: false,
            allow_insecure: false,
            memory: None,
            pids: Some(DEFAULT_PIDS_LIMIT),
            cpus: None,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            seccomp: kiln_sandbox::SeccompPolicy::default(),
            network_deny: Vec::new(),
            max_download_size: None,
        }
    }
}

impl SandboxOptions {
    /// What of the confinement can change a RUN step's result (capabilities, seccomp),
    /// for its cache key. Resource limits are left out, as Docker does.
    pub fn cache_identity(&self) -> String {
        let seccomp = match &self.seccomp {
            kiln_sandbox::SeccompPolicy::Default => "default".to_string(),
            kiln_sandbox::SeccompPolicy::Unconfined => "unconfined".to_string(),
            kiln_sandbox::SeccompPolicy::Profile(p) => {
                format!("profile:{}", kiln_oci::Digest::of_bytes(p.as_bytes()))
            }
        };
        // The network is part of what ran (as in BuildKit's exec op); RUN's own flags are in
        // the instruction's text.
        let mut id = format!(
            "caps={:?} seccomp={seccomp} network={:?}",
            self.confinement().capabilities,
            self.network
        );
        if !self.network_deny.is_empty() {
            let deny: Vec<String> = self.network_deny.iter().map(|c| c.to_string()).collect();
            id.push_str(&format!(" network-deny={}", deny.join(",")));
        }
        id
    }

    /// Where ADD may download from: the default network's policy, except with
    /// `--network host --allow network.host`, where the user let the build reach the host.
    pub fn url_policy(&self) -> crate::copy::url::UrlPolicy {
        let unfiltered = self.network == Network::Host && self.allow_network_host;
        crate::copy::url::UrlPolicy {
            network_deny: (!unfiltered).then(|| self.network_deny.clone()),
            max_size: self
                .max_download_size
                .unwrap_or(crate::copy::url::DEFAULT_MAX_DOWNLOAD),
        }
    }

    /// The confinement of a step: Docker's defaults with these changes.
    pub fn confinement(&self) -> kiln_sandbox::Confinement {
        let norm = |c: &str| {
            let c = c.to_ascii_uppercase();
            if c.starts_with("CAP_") || c == "ALL" {
                c
            } else {
                format!("CAP_{c}")
            }
        };
        let mut caps: Vec<String> = kiln_sandbox::DOCKER_DEFAULT_CAPABILITIES
            .iter()
            .map(|c| norm(c))
            .collect();
        let drop: Vec<String> = self.cap_drop.iter().map(|c| norm(c)).collect();
        if drop.iter().any(|c| c == "ALL") {
            caps.clear();
        }
        caps.retain(|c| !drop.contains(c));
        for add in self.cap_add.iter().map(|c| norm(c)) {
            if add == "ALL" {
                // Every capability kiln holds: asking the kernel for one it withholds
                // (e.g. CAP_SYS_RESOURCE in some containers) would fail the step.
                caps = kiln_sandbox::current_capabilities();
            } else if !caps.contains(&add) {
                caps.push(add);
            }
        }
        kiln_sandbox::Confinement {
            network: self.network.mode(),
            network_deny: self.network_deny.clone(),
            capabilities: caps,
            seccomp: self.seccomp.clone(),
            limits: kiln_sandbox::Limits {
                memory: self.memory,
                pids: self.pids,
                cpus: self.cpus,
            },
            ..kiln_sandbox::Confinement::default()
        }
    }
}

/// Called with the Dockerfile's name, its bytes and the build's plan once the build has
/// planned it (e.g. to lint what the target needs).
pub type DockerfileHook = Box<dyn FnOnce(&str, &[u8], &kiln_dockerfile::plan::Plan)>;

/// Everything `kiln build` needs.
pub struct BuildOptions {
    /// The Dockerfile's bytes and its name for messages; `None` reads it from the context.
    pub dockerfile: Option<(String, Vec<u8>)>,
    /// The Dockerfile's host path (for `<Dockerfile>.dockerignore`).
    pub dockerfile_path: Option<PathBuf>,
    /// With `dockerfile` `None`: the Dockerfile's path inside the context (`-f` with a
    /// context tarball); `None` looks for `Dockerfile`, then `Containerfile`.
    pub dockerfile_in_context: Option<String>,
    /// Told about the Dockerfile and its plan before the build starts.
    pub on_dockerfile: Option<DockerfileHook>,
    pub context: ContextSource,
    /// Names to tag the result with.
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub platform: Option<String>,
    pub outputs: Vec<Output>,
    pub source_date_epoch: Option<i64>,
    /// Confinement of RUN steps beyond Docker's defaults.
    pub sandbox: SandboxOptions,
    /// What runs RUN steps: the embedded runtime, an external OCI runtime (`--runtime`, see
    /// [`super::isolation::open`]), or any other [`kiln_sandbox::Sandbox`].
    pub isolation: super::Isolation,
    /// `--isolation vm`: RUN steps run in a guest per stage instead of `isolation`.
    pub vm: Option<std::sync::Arc<kiln_vm::Vm>>,
    /// `--storage-driver`; `None` picks overlay where the kernel allows it, else vfs.
    pub storage_driver: Option<super::StorageDriver>,
    /// `--max-layer-size`: most uncompressed bytes of one step's layer; `None`: no limit.
    /// The CLI's default is [`DEFAULT_MAX_LAYER_SIZE`](super::layer::DEFAULT_MAX_LAYER_SIZE).
    pub max_layer_size: Option<u64>,
    /// `--cache-mount-scope`: who shares `RUN --mount=type=cache` directories.
    pub cache_mount_scope: super::mounts::cache::Scope,
    /// `--secret`: for `RUN --mount=type=secret`.
    pub secrets: Vec<super::mounts::secrets::SecretSpec>,
    /// `--ssh`: agents for `RUN --mount=type=ssh`.
    pub ssh: Vec<super::mounts::secrets::SshSpec>,
    /// How to reach registries: base images not in the store are pulled, registry
    /// outputs pushed. `None`: never contact a registry.
    pub registry: Option<kiln_registry::RegistryOptions>,
    /// How registry outputs are pushed (`--compression`).
    pub push: kiln_registry::PushOptions,
    /// Where progress events go (`None`: quiet).
    pub reporter: Option<std::sync::Arc<dyn super::progress::Reporter>>,
    /// `--squash` / `--squash-all`: what becomes one layer.
    pub squash: Squash,
    /// `--no-cache`: run every step (records are still written for the next build).
    pub no_cache: bool,
    /// `--no-cache-filter`: stages (by name or index) whose steps all run.
    pub no_cache_filter: Vec<String>,
    /// `--pull`: resolve base images again at their source.
    pub pull: bool,
    /// `--jobs`: stages run at once (0: one per CPU).
    pub jobs: usize,
    /// `--cache-from type=registry`: caches looked up when the store misses a step.
    pub cache_from: Vec<std::sync::Arc<kiln_registry::cache::RemoteCache>>,
    /// `--cache-to type=registry`: where the build's step records go after it succeeds.
    pub cache_to: Vec<kiln_registry::cache::CacheTo>,
    /// `--timeout`: the longest one RUN step may take (`None`: no limit).
    pub step_timeout: Option<std::time::Duration>,
    /// Set to stop the build (e.g. on SIGINT/SIGTERM): running steps are killed, no new
    /// step starts, and the build fails with [`super::BuildError::Cancelled`].
    pub cancel: Option<kiln_sandbox::Cancel>,
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("dockerfile_path", &self.dockerfile_path)
            .field("dockerfile_in_context", &self.dockerfile_in_context)
            .field("context", &self.context)
            .field("tags", &self.tags)
            .field("target", &self.target)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

/// `kiln build --squash` / `--squash-all` (see [`crate::squash`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Squash {
    /// One layer per step, as usual.
    #[default]
    None,
    /// The layers this build added become one; the base image's layers stay.
    New,
    /// One layer in all.
    All,
}
