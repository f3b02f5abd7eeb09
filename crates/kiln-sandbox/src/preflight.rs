//! Checks every backend makes before it touches anything.

use std::path::{Path, PathBuf};

use crate::{slirp, NetworkMode, SandboxError};

/// What the checks found.
pub(crate) struct Preflight {
    /// slirp4netns, when the run makes a private network of its own.
    pub slirp_program: Option<PathBuf>,
    /// The step's `/etc/resolv.conf`: with slirp the resolver is slirp's DNS forwarder,
    /// not the host's.
    pub resolv_conf: String,
    /// The root filesystem, canonical.
    pub rootfs: PathBuf,
}

pub(crate) fn check(
    network: NetworkMode,
    shared_network: bool,
    resolv_conf: String,
    rootfs: &Path,
) -> Result<Preflight, SandboxError> {
    let slirp_program = match network {
        NetworkMode::Private if shared_network => None,
        NetworkMode::Private => {
            let path = std::env::var("PATH").ok();
            Some(slirp::find(path.as_deref())?)
        }
        NetworkMode::None | NetworkMode::Host => None,
    };
    let resolv_conf = match network {
        NetworkMode::Private => slirp::GUEST_RESOLV_CONF.to_owned(),
        NetworkMode::None | NetworkMode::Host => resolv_conf,
    };
    let rootfs: PathBuf = rootfs.canonicalize().map_err(|e| {
        SandboxError::io("resolving rootfs", rootfs, e, "give an existing directory")
    })?;
    if rootfs == Path::new("/") {
        return Err(SandboxError::Invalid(
            "rootfs is the host's / : give the directory of the image's root filesystem".into(),
        ));
    }
    Ok(Preflight {
        slirp_program,
        resolv_conf,
        rootfs,
    })
}
