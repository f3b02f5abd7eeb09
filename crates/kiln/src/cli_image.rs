//! Arguments of the image commands (build, import, load, save, export, images, inspect,
//! history, tag, rmi). Flag names follow `docker build` / `podman` where they exist.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name (and optionally tag) the image: NAME[:TAG]; may be given several times.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// The Dockerfile (default: PATH/Dockerfile, or PATH/Containerfile); - reads standard input.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Set a build argument (KEY=VALUE, or KEY to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Build this stage (default: the last one).
    #[arg(long)]
    pub target: Option<String>,
    /// Set a label on the image (KEY=VALUE).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Run every step instead of reusing cached ones (the results are still cached).
    #[arg(long)]
    pub no_cache: bool,
    /// Make the layers this build added one layer (the base image's layers stay); their
    /// history entries stay, marked as empty layers. Sizes before and after are reported.
    #[arg(long, conflicts_with = "squash_all")]
    pub squash: bool,
    /// Make the whole image one layer (base included); history entries stay, marked as
    /// empty layers. Sizes before and after are reported.
    #[arg(long)]
    pub squash_all: bool,
    /// Push the image to a registry under each -t name.
    #[arg(long)]
    pub push: bool,
    /// Layer compression for pushing (--push, -o type=registry).
    #[arg(long, value_enum)]
    pub compression: Option<crate::cli_registry::CompressionArg>,
    #[command(flatten)]
    pub registry: crate::cli_registry::RegistryArgs,
    /// Run every step of this stage (name or index) instead of reusing cached ones; may be
    /// given several times.
    #[arg(long = "no-cache-filter", value_name = "STAGE")]
    pub no_cache_filter: Vec<String>,
    /// Resolve base images again at their source instead of using the name's last result.
    #[arg(long)]
    pub pull: bool,
    /// How to show progress on standard error: auto (tty on a terminal, else plain),
    /// plain, tty, json (one event per line) or quiet.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Stages to build at once (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Write the image's digests and names as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Target platform (os/arch[/variant]); only the host's platform can be built.
    #[arg(long)]
    pub platform: Option<String>,
    /// Extra outputs: type=oci|oci-archive|docker-archive|local,dest=PATH or type=registry,name=REF.
    #[arg(short = 'o', long = "output", value_name = "type=TYPE,dest=PATH")]
    pub outputs: Vec<String>,
    /// Write the image ID to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Print only the image ID.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Memory limit of each RUN step (e.g. 512m, 2g).
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Most processes a RUN step may have at once (default 2048, as Podman; 0 or -1: no
    /// limit).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Longest a RUN step may run (e.g. 90s, 10m, 1h30m): a step still running then is
    /// killed with every process it started, and the build fails. Default: no limit.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// CPUs a RUN step may use (e.g. 1.5).
    #[arg(long, value_name = "CPUS")]
    pub cpus: Option<f64>,
    /// Add a capability to RUN steps (Docker's default set; ALL for all).
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from RUN steps (ALL for all).
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// seccomp=PROFILE.json (Docker's format) or seccomp=unconfined for RUN steps.
    #[arg(long = "security-opt", value_name = "seccomp=PROFILE|unconfined")]
    pub security_opt: Vec<String>,
    /// Network of RUN steps: default (private, user-mode networking: reaches the internet, not
    /// the host's own addresses, loopback or link-local), none, or host.
    #[arg(long, value_name = "default|none|host")]
    pub network: Option<String>,
    /// A network (CIDR, e.g. 10.0.0.0/8) or address that the default network and ADD
    /// downloads must not reach, besides the host's own addresses, loopback and link-local;
    /// repeatable.
    #[arg(long = "network-deny", value_name = "CIDR")]
    pub network_deny: Vec<String>,
    /// Largest file ADD downloads from a URL (e.g. 512m, 8g; default 4g).
    #[arg(long = "max-download-size", value_name = "BYTES")]
    pub max_download_size: Option<String>,
    /// Let the Dockerfile use a privileged feature: network.host (RUN --network=host) or
    /// security.insecure (RUN --security=insecure).
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
    /// How RUN steps get their filesystem: overlay (default where the kernel allows it) or
    /// vfs (copies; for hosts without overlayfs).
    #[arg(long, value_name = "overlay|vfs")]
    pub storage_driver: Option<String>,
    /// Most uncompressed bytes one step's layer may hold (e.g. 500m, 40g; 0 for no limit);
    /// a step going past it fails and leaves nothing in the store.
    #[arg(long, value_name = "SIZE", default_value = BuildArgs::default_max_layer_size())]
    pub max_layer_size: String,
    /// Who shares RUN --mount=type=cache directories: shared (every build using the store,
    /// by id; fastest) or project (only builds of the same context directory, or of
    /// project=NAME; a hostile build cannot poison another project's caches).
    #[arg(long, value_name = "shared|project[=NAME]", default_value = "shared")]
    pub cache_mount_scope: String,
    /// What runs RUN steps: oci (the embedded runtime, or --runtime) or vm (a QEMU guest
    /// per stage with a kernel of its own; each step still sandboxed inside it).
    #[arg(
        long,
        value_name = "oci|vm",
        default_value = "oci",
        env = "KILN_ISOLATION"
    )]
    pub isolation: String,
    /// The guest kernel for --isolation vm (default: the newest /boot/vmlinuz-* that has
    /// its /lib/modules).
    #[arg(long, value_name = "PATH")]
    pub vm_kernel: Option<PathBuf>,
    /// An initramfs for --isolation vm instead of the one kiln makes (it must run kiln's
    /// agent as /init).
    #[arg(long, value_name = "PATH")]
    pub vm_initrd: Option<PathBuf>,
    /// How QEMU runs the guest: auto (KVM when /dev/kvm boots a guest, probed once per
    /// host boot), kvm or tcg (software emulation).
    #[arg(long, value_name = "auto|kvm|tcg", default_value = "auto")]
    pub vm_accel: String,
    /// Run RUN steps with this OCI runtime (runc, crun, runsc, or a path) instead of the
    /// embedded one; `kiln info` lists those found.
    #[arg(long, value_name = "NAME|PATH")]
    pub runtime: Option<String>,
    /// A global flag for --runtime (e.g. --runtime-flag=--platform=ptrace for runsc).
    #[arg(long = "runtime-flag", value_name = "FLAG", allow_hyphen_values = true)]
    pub runtime_flags: Vec<String>,
    /// A secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR.
    #[arg(long = "secret", value_name = "id=ID,src=FILE|env=VAR")]
    pub secrets: Vec<String>,
    /// An SSH agent for RUN --mount=type=ssh: default ($SSH_AUTH_SOCK) or ID=SOCKET.
    #[arg(long = "ssh", value_name = "default|ID=SOCKET")]
    pub ssh: Vec<String>,
    /// Lint the Dockerfile (as `kiln lint` does) and build nothing.
    #[arg(long)]
    pub check: bool,
    /// Print no lint findings before the build (by default, those in the stages the
    /// target needs; `kiln lint` shows all).
    #[arg(long)]
    pub no_lint: bool,
    /// Clamp timestamps to this Unix time (also from $SOURCE_DATE_EPOCH) for reproducible images.
    #[arg(long, value_name = "SECONDS")]
    pub source_date_epoch: Option<i64>,
    /// Import a build cache: steps the store lacks are taken from it when their keys match
    /// (type=registry,ref=HOST/REPO:TAG, or just the reference); repeatable.
    #[arg(long = "cache-from", value_name = "SPEC")]
    pub cache_from: Vec<String>,
    /// Export this build's step cache after it succeeds:
    /// type=registry,ref=HOST/REPO:TAG[,mode=min|max][,compression=gzip|zstd]; repeatable.
    #[arg(long = "cache-to", value_name = "SPEC")]
    pub cache_to: Vec<String>,
    /// Features that come with later versions; refused with a message rather than ignored.
    #[command(flatten)]
    pub later: LaterFlags,
    /// The build context: a directory, or - for a tarball on standard input.
    pub context: PathBuf,
}

impl BuildArgs {
    /// `--max-layer-size`'s default, as the flag shows it (the engine's
    /// `DEFAULT_MAX_LAYER_SIZE`).
    pub const fn default_max_layer_size() -> &'static str {
        "20g"
    }
}

/// `--progress` styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Plain,
    Tty,
    Json,
    Quiet,
}

/// Flags `docker build` has whose feature kiln does not have yet.
#[derive(Debug, Args)]
pub struct LaterFlags {
    #[arg(long = "add-host", hide = true)]
    pub add_host: Vec<String>,
    #[arg(long = "build-context", hide = true)]
    pub build_context: Vec<String>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sbom: Option<String>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub provenance: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A tarball of a root filesystem (plain, gzip, zstd, xz or bzip2), or - for standard input.
    pub tarball: PathBuf,
    /// The image's name: NAME[:TAG].
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// An oci-archive or docker-archive tarball (- for standard input), or an OCI layout
    /// directory.
    #[arg(short = 'i', long = "input", value_name = "PATH")]
    pub input: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaveFormat {
    OciArchive,
    DockerArchive,
    OciDir,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Where to write.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: PathBuf,
    #[arg(long, value_enum, default_value_t = SaveFormat::OciArchive)]
    pub format: SaveFormat,
    /// Images to save.
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The image.
    pub name: String,
    /// A directory to fill, or a file name ending in .tar for a tarball.
    #[arg(short = 'o', long = "output", value_name = "DIR|FILE.tar")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print only image IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show full image IDs.
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Images to inspect.
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NameArg {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image.
    pub source: String,
    /// New names.
    #[arg(required = true)]
    pub targets: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["last", "from"])))]
pub struct SquashArgs {
    /// The image (name or ID) in the store.
    pub image: String,
    /// Squash the top N layers into one.
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    /// Squash this layer and every layer above it into one. LAYER_OR_STEP is a layer
    /// digest (blob digest or diff ID, `sha256:` optional, or a unique prefix of at least
    /// 12 hex digits) or a history index: the position of a step in the image config's
    /// history, 0 = the oldest (`kiln history` lists them newest first); squashing starts
    /// at the first layer that step or a later one made.
    #[arg(long, value_name = "LAYER_OR_STEP")]
    pub from: Option<String>,
    /// The name of the new image: NAME[:TAG].
    #[arg(short = 't', long = "tag", value_name = "NAME", required = true)]
    pub tag: String,
}

/// How `kiln audit` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The image (name or ID) in the store.
    pub image: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: AuditFormat,
    /// Exit 1 when a finding is at or above this severity: low, medium, high or critical.
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
}
