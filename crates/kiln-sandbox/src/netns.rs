//! The network namespace an external OCI runtime joins by path: the build's shared one
//! ([`crate::SharedNetwork`]) when the confinement allows it, else one made for the run
//! (`lo` up; with slirp4netns for [`crate::NetworkMode::Private`]), held by an fd and
//! named `/proc/PID/fd/N`. slirp4netns stops and the namespace goes on drop.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::shared_net::new_namespace;
use crate::slirp::{self, Slirp};
use crate::SandboxError;

/// A namespace made for one run.
pub(crate) struct NetNs {
    namespace: OwnedFd,
    /// Stopped on drop (before the namespace fd closes: fields drop in order).
    _slirp: Option<Slirp>,
}

/// `/proc/PID/fd/N` of a namespace fd of this process.
pub(crate) fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        fd.as_raw_fd()
    ))
}

impl NetNs {
    /// A new network namespace with `lo` up; with `private_net`, user-mode
    /// networking on `tap0` under its policy, slirp4netns's log in `log`.
    pub(crate) fn create(
        private_net: Option<&crate::preflight::PrivateNet>,
        log: &Path,
    ) -> Result<NetNs, SandboxError> {
        let namespace = new_namespace()?;
        let slirp = match private_net {
            Some(net) => Some(Slirp::start(
                &net.program,
                slirp::Target::NamespacePath(&fd_path(&namespace)),
                log,
                &net.policy,
            )?),
            None => None,
        };
        Ok(NetNs {
            namespace,
            _slirp: slirp,
        })
    }

    /// The namespace's path for the runtime config.
    pub(crate) fn path(&self) -> String {
        fd_path(&self.namespace).display().to_string()
    }
}
