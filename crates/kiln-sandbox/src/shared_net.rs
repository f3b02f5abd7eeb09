//! A private network that several runs share: one network namespace with `lo` up and one
//! slirp4netns attached to it, made once per build instead of once per step. Starting
//! slirp4netns costs about 30 ms; a build of 20 `RUN` steps would spend most of its time on
//! it. BuildKit keeps a pool of network namespaces for the same reason.
//!
//! A step that holds `CAP_NET_ADMIN` or `CAP_SYS_ADMIN` could reconfigure a shared namespace
//! (routes, firewall, interfaces) for the steps after it, so such steps get a namespace of
//! their own ([`SharedNetwork::suits`]). Steps that share one see each other's listening
//! sockets on `lo` while they run at the same time (parallel stages of one build).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags};

use crate::slirp::{self, Slirp};
use crate::{caps, sys, Cidr, Confinement, NetworkMode, NetworkPolicy, SandboxError};

/// A network namespace with user-mode networking, alive until dropped.
pub struct SharedNetwork {
    namespace: OwnedFd,
    /// `--network-deny` ranges its policy has (runs must ask for the same).
    denies: Vec<Cidr>,
    /// Stopped when dropped.
    _slirp: Slirp,
    _log_dir: tempfile::TempDir,
}

impl std::fmt::Debug for SharedNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedNetwork")
            .field("namespace_fd", &self.namespace.as_raw_fd())
            .finish_non_exhaustive()
    }
}

impl SharedNetwork {
    /// Make the namespace and start slirp4netns on it (the same configuration as
    /// [`NetworkMode::Private`]), filtered by the [`NetworkPolicy`] of the host's addresses
    /// now plus `denies` (`--network-deny`). slirp4netns lives until this is dropped,
    /// whichever thread started it.
    pub fn start(denies: &[Cidr]) -> Result<SharedNetwork, SandboxError> {
        let program = slirp::find(std::env::var("PATH").ok().as_deref())?;
        let policy = NetworkPolicy::for_host(denies)?;
        let namespace = new_namespace()?;
        let log_dir = crate::embedded::temp_dir("kiln-net-")?;
        let path = PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            namespace.as_raw_fd()
        ));
        let slirp = Slirp::start(
            &program,
            slirp::Target::NamespacePath(&path),
            &log_dir.path().join("slirp4netns.log"),
            &policy,
        )?;
        Ok(SharedNetwork {
            namespace,
            denies: denies.to_vec(),
            _slirp: slirp,
            _log_dir: log_dir,
        })
    }

    /// Whether a run with this confinement may join a shared namespace: a private network,
    /// and no capability that could change the namespace for the runs after it.
    pub fn suits(confinement: &Confinement) -> bool {
        confinement.network == NetworkMode::Private
            && !caps::contains(&confinement.capabilities, "CAP_NET_ADMIN")
            && !caps::contains(&confinement.capabilities, "CAP_SYS_ADMIN")
    }

    /// The `--network-deny` ranges it was started with.
    pub fn denies(&self) -> &[Cidr] {
        &self.denies
    }

    pub(crate) fn namespace(&self) -> &OwnedFd {
        &self.namespace
    }

    /// The namespace's path (`/proc/PID/fd/N`), for runtimes that join it by path.
    pub(crate) fn path(&self) -> String {
        crate::netns::fd_path(&self.namespace).display().to_string()
    }
}

/// A new network namespace with `lo` up, held by an fd. Made on a thread of its own:
/// `unshare(CLONE_NEWNET)` changes only the calling thread, which then ends; the fd keeps
/// the namespace.
pub(crate) fn new_namespace() -> Result<OwnedFd, SandboxError> {
    let made = std::thread::spawn(|| -> Result<OwnedFd, SandboxError> {
        let os = |op: &'static str| {
            move |e: rustix::io::Errno| SandboxError::Syscall {
                op,
                source: e.into(),
            }
        };
        sys::unshare(libc::CLONE_NEWNET).map_err(os("unshare(CLONE_NEWNET)"))?;
        sys::loopback_up().map_err(os("bringing lo up in the new network namespace"))?;
        rustix::fs::open(
            "/proc/thread-self/ns/net",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(os("opening /proc/thread-self/ns/net"))
    })
    .join()
    .map_err(|_| SandboxError::Invalid("the network namespace thread panicked".into()))??;
    crate::embedded::high(made)
}
