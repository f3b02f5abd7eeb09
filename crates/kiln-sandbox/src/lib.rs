//! Sandboxed execution of one process in a root filesystem.
//!
//! [`Sandbox`] is the interface the builder uses for `RUN`; [`Embedded`] is
//! the in-process backend built on Linux namespaces that applies Docker's
//! default confinement: new mount/pid/ipc/uts/cgroup (and net) namespaces,
//! `pivot_root`, a `nodev` `/dev` with only the standard nodes (bound from the
//! host's) and every other mount `nodev` too, a device allow-list in the step's
//! cgroups (v1 `devices` controller and a v2 device program), masked and
//! read-only `/proc` paths, Docker's 14 default capabilities, `no_new_privs`,
//! Docker's default seccomp profile and cgroup limits. The command is pid 1 of
//! its pid namespace: nothing of kiln's process stays visible in the step.
//!
//! It needs root (real root in the initial user namespace).

use std::io::Write;
use std::path::{Path, PathBuf};

mod bpf;
mod caps;
mod cgroup;
mod child;
mod control;
mod describe;
mod dev_tables;
mod devices;
mod embedded;
mod error;
mod external;
mod helper;
mod mount_ns;
mod mount_points;
mod netns;
pub mod netpolicy;
mod oci_config;
mod preflight;
mod run_setup;
mod seccomp;
mod seccomp_dispatch;
mod shared_net;
mod slirp;
mod sys;

/// Network interfaces set up by ioctl (a guest's NIC, a namespace's loopback): neither
/// rustix nor nix wraps these few fixed requests, and a netlink library would be more
/// than they need.
pub mod netif {
    pub use crate::sys::{add_default_route, link_up, set_ipv4};
}
#[cfg(target_arch = "aarch64")]
mod syscalls_aarch64;
#[cfg(target_arch = "x86_64")]
mod syscalls_x86_64;
mod tmpfs;

pub use caps::{current_capabilities, ALL_CAPABILITIES, DOCKER_DEFAULT_CAPABILITIES};
pub use control::{Cancel, RunControl};
pub use embedded::Embedded;
pub use error::SandboxError;
pub use external::{
    find_runtime, list_runtimes, runtime_info, ExternalRuntime, RuntimeInfo, KNOWN_RUNTIMES,
};
pub use helper::spawn_helper;
pub use mount_ns::private_mounts;
pub use netpolicy::{Cidr, CidrError, NetPolicyError, NetworkPolicy};
pub use seccomp::DOCKER_DEFAULT_PROFILE;
pub use shared_net::SharedNetwork;
pub use tmpfs::TmpfsDir;

/// Docker's default `PATH` (BuildKit's `system.DefaultPathEnv` on Linux): what a stage
/// whose base sets none gets in its config, and what a process runs with when its
/// environment has none. The one definition in kiln.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The process to start inside the sandbox. Its `Debug` shows environment
/// names only: values may be secrets (`RUN --mount=type=secret,env=...`).
#[derive(Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// `argv`; `args[0]` without a `/` is looked up in the `PATH` of `env`
    /// (or Docker's default `PATH`) inside the root filesystem.
    pub args: Vec<String>,
    /// `KEY=value` entries, passed as-is.
    pub env: Vec<String>,
    /// Absolute working directory inside the root filesystem; must exist.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: String,
}

impl std::fmt::Debug for ProcessSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self
            .env
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        f.debug_struct("ProcessSpec")
            .field("args", &self.args)
            .field("env", &env)
            .field("cwd", &self.cwd)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("additional_gids", &self.additional_gids)
            .field("hostname", &self.hostname)
            .finish()
    }
}

/// Seccomp policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SeccompPolicy {
    /// Docker's default profile ([`DOCKER_DEFAULT_PROFILE`]).
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A profile in Docker's JSON format.
    Profile(String),
}

/// Network namespace choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// New network namespace with only `lo`, up.
    #[default]
    None,
    /// Share the host's network namespace.
    Host,
    /// New network namespace with user-mode networking by slirp4netns (as
    /// rootless podman/buildah): `lo` plus `tap0` with 10.0.2.100/24, MTU
    /// 65520, default route via 10.0.2.2 (slirp's NAT gateway) and DNS
    /// forwarded at 10.0.2.3, which becomes the step's only `nameserver`
    /// (the request's `resolv_conf` is not used). Outside networks are
    /// reachable through the host's connections; the host's own addresses,
    /// loopback, link-local ranges and [`Confinement::network_deny`] are not
    /// ([`NetworkPolicy`], enforced by BPF programs on slirp4netns's cgroup v2
    /// directory, outside the step; without cgroup v2 the run fails with
    /// [`crate::SandboxError::NetworkPolicy`]). slirp4netns runs for the duration of the
    /// step and is stopped and reaped after it, also when the step fails or
    /// kiln dies. Needs `/usr/bin/slirp4netns` (or one in `PATH`); without
    /// it the run fails with [`crate::SandboxError::Network`].
    Private,
}

/// cgroup limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    /// Bytes.
    pub memory: Option<u64>,
    /// Maximum number of tasks.
    pub pids: Option<u64>,
    /// CPUs (CFS quota over a 100 ms period).
    pub cpus: Option<f64>,
}

/// How the process is confined.
#[derive(Debug, Clone, PartialEq)]
pub struct Confinement {
    /// Capability names (`CAP_CHOWN` or `chown`); everything else is dropped
    /// from the bounding, permitted and effective sets. Inheritable and
    /// ambient sets are cleared, as Docker does since 20.10.
    pub capabilities: Vec<String>,
    pub seccomp: SeccompPolicy,
    pub no_new_privs: bool,
    pub network: NetworkMode,
    /// Ranges a [`NetworkMode::Private`] network refuses besides the fixed ones (loopback,
    /// link-local, the host's own addresses; see [`NetworkPolicy`]): `--network-deny`.
    pub network_deny: Vec<Cidr>,
    /// Paths hidden from the process (`/dev/null` over files, an empty
    /// read-only tmpfs over directories). Missing paths are ignored.
    pub masked_paths: Vec<String>,
    /// Paths re-mounted read-only. Missing paths are ignored.
    pub readonly_paths: Vec<String>,
    /// `/sys` mounted read-write (privileged containers); read-only otherwise.
    pub writable_sysfs: bool,
    pub limits: Limits,
}

/// Docker's default masked paths.
pub const DOCKER_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's default read-only paths.
pub const DOCKER_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

impl Default for Confinement {
    /// Docker's defaults (`docker run` without options).
    fn default() -> Self {
        Self {
            capabilities: DOCKER_DEFAULT_CAPABILITIES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            seccomp: SeccompPolicy::Default,
            no_new_privs: true,
            network: NetworkMode::None,
            network_deny: Vec::new(),
            masked_paths: DOCKER_MASKED_PATHS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            readonly_paths: DOCKER_READONLY_PATHS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            writable_sysfs: false,
            limits: Limits::default(),
        }
    }
}

/// An extra filesystem mounted for the run (`RUN --mount`), on top of the
/// root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path inside the container. Resolved inside the root
    /// filesystem (symlinks cannot leave it); created empty if missing and
    /// removed after the run, like the sandbox's own mount points.
    pub target: String,
    pub kind: MountKind,
}

/// What is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A host file or directory (a trusted path that kiln made or resolved:
    /// no symlinks are followed past it). Always `nodev` and `nosuid`.
    Bind { source: PathBuf, readonly: bool },
    /// A fresh tmpfs; `size` in bytes.
    Tmpfs { size: Option<u64> },
}

impl MountKind {
    /// Whether the mount point is a directory (else a file).
    pub fn is_dir(&self) -> bool {
        match self {
            MountKind::Bind { source, .. } => source.is_dir(),
            MountKind::Tmpfs { .. } => true,
        }
    }
}

impl Confinement {
    /// What Docker gives `--privileged` containers (BuildKit's `RUN --security=insecure`):
    /// every capability kiln holds ([`current_capabilities`]), no seccomp filter, no masked or read-only paths, a writable `/sys`,
    /// and no `no_new_privs`. Namespaces, network and limits stay as they are, and so does
    /// the device allow-list (unlike Docker's `--privileged`, host devices stay closed).
    pub fn privileged(self) -> Confinement {
        Confinement {
            capabilities: current_capabilities(),
            seccomp: SeccompPolicy::Unconfined,
            no_new_privs: false,
            masked_paths: Vec::new(),
            readonly_paths: Vec::new(),
            writable_sysfs: true,
            ..self
        }
    }
}

/// One run: the process, its confinement, and where its output goes.
pub struct RunRequest<'a> {
    /// Root filesystem directory. Mount points the sandbox needs and that are
    /// missing (`/proc`, `/dev`, `/sys`, `/etc`, `/etc/hosts`,
    /// `/etc/resolv.conf`, `/etc/hostname`) are created empty before the run
    /// and removed after it, so a layer diff of `rootfs` does not see them:
    /// directories only if still empty, files only if still empty regular
    /// files (the process only ever sees the bind-mounted temp file over
    /// them); the parent directory's atime/mtime are put back. Caveat: if the
    /// process itself changed that directory, its mtime is still reset.
    pub rootfs: &'a Path,
    pub process: ProcessSpec,
    pub confinement: Confinement,
    /// Content of `/etc/hosts`, bind-mounted from a temporary file.
    pub hosts: String,
    /// Content of `/etc/resolv.conf`, bind-mounted from a temporary file, in
    /// [`NetworkMode::Host`] and [`NetworkMode::None`] modes. In
    /// [`NetworkMode::Private`] the step gets `nameserver 10.0.2.3` (slirp's
    /// DNS forwarder) instead, since the host's resolvers (often on
    /// 127.0.0.x) are not reachable from there.
    pub resolv_conf: String,
    /// Extra mounts, in order (a later one may be below an earlier one).
    pub mounts: Vec<Mount>,
    /// A script put read-only at `/dev/pipes/NAME` (mode 0755, on the sandbox's own `/dev`,
    /// never in the rootfs), as BuildKit does for `RUN <<EOF` heredocs that start with `#!`.
    /// NAME must be a single path component.
    pub inline_script: Option<InlineScript>,
    /// With [`NetworkMode::Private`]: join this namespace instead of making one (and
    /// starting slirp4netns) for the run, when [`SharedNetwork::suits`] the confinement.
    pub shared_network: Option<&'a SharedNetwork>,
    pub stdout: Box<dyn Write + Send>,
    pub stderr: Box<dyn Write + Send>,
}

impl std::fmt::Debug for RunRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunRequest")
            .field("rootfs", &self.rootfs)
            .field("process", &self.process)
            .field("confinement", &self.confinement)
            .field("mounts", &self.mounts)
            .finish_non_exhaustive()
    }
}

/// A file the process finds at `/dev/pipes/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineScript {
    pub name: String,
    pub data: Vec<u8>,
}

/// Where [`InlineScript`]s appear inside the sandbox.
pub const INLINE_SCRIPT_DIR: &str = "/dev/pipes";

/// How the process ended: exactly one of the fields is set. (Also what the VM tier's guest
/// agent sends back, as JSON.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Exit {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs one process confined.
pub trait Sandbox {
    /// Run; `control` may end the run early (time limit, cancellation): then every process
    /// of the run is killed, everything the run made is removed, and the result is
    /// [`SandboxError::TimedOut`] or [`SandboxError::Cancelled`].
    fn run_controlled(
        &self,
        req: RunRequest<'_>,
        control: &RunControl,
    ) -> Result<Exit, SandboxError>;

    /// Run to the end.
    fn run(&self, req: RunRequest<'_>) -> Result<Exit, SandboxError> {
        self.run_controlled(req, &RunControl::default())
    }
}
