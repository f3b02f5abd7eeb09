//! Checks every backend makes before it touches anything.

use std::path::{Path, PathBuf};

use crate::{
    slirp, Confinement, NetworkMode, NetworkPolicy, ProcessSpec, RunRequest, SandboxError,
    SharedNetwork,
};

/// A run request that passed [`check`]: what every backend starts from.
pub(crate) struct CheckedRequest<'a> {
    /// The request, its `shared_network` and `resolv_conf` as [`Preflight`] decided.
    pub request: RunRequest<'a>,
    /// The root filesystem, canonical.
    pub rootfs: PathBuf,
    pub private_net: Option<PrivateNet>,
}

/// [`check`] a whole request.
pub(crate) fn check_request(
    mut request: RunRequest<'_>,
) -> Result<CheckedRequest<'_>, SandboxError> {
    let resolv_conf = std::mem::take(&mut request.resolv_conf);
    let pre = check(
        &request.process,
        &request.confinement,
        request.shared_network,
        resolv_conf,
        request.rootfs,
    )?;
    request.shared_network = pre.shared_network;
    request.resolv_conf = pre.resolv_conf;
    Ok(CheckedRequest {
        request,
        rootfs: pre.rootfs,
        private_net: pre.private_net,
    })
}

/// What the checks found.
pub(crate) struct Preflight<'a> {
    /// The shared network, if the run may join it ([`SharedNetwork::suits`]).
    pub shared_network: Option<&'a SharedNetwork>,
    /// slirp4netns and its policy, when the run makes a private network of its own.
    pub private_net: Option<PrivateNet>,
    /// The step's `/etc/resolv.conf`: with slirp the resolver is slirp's DNS forwarder,
    /// not the host's.
    pub resolv_conf: String,
    /// The root filesystem, canonical.
    pub rootfs: PathBuf,
}

/// A private network to start for one run: never one without its policy.
pub(crate) struct PrivateNet {
    pub program: PathBuf,
    /// What the network may reach (the host's addresses as they are now).
    pub policy: NetworkPolicy,
}

pub(crate) fn check<'a>(
    process: &ProcessSpec,
    confinement: &Confinement,
    shared_network: Option<&'a SharedNetwork>,
    resolv_conf: String,
    rootfs: &Path,
) -> Result<Preflight<'a>, SandboxError> {
    if !rustix::process::geteuid().is_root() {
        return Err(SandboxError::NotRoot);
    }
    if process.args.is_empty() {
        return Err(SandboxError::Invalid(
            "process.args is empty; give at least the program".into(),
        ));
    }
    if !process.cwd.starts_with('/') {
        return Err(SandboxError::Invalid(format!(
            "cwd {:?} must be absolute",
            process.cwd
        )));
    }
    if process.hostname.len() > 64 || process.hostname.contains('\0') {
        return Err(SandboxError::Invalid(format!(
            "hostname {:?} must be at most 64 bytes without NUL",
            process.hostname
        )));
    }
    // 4294967295 is the kernel's "no change" id: setuid/setgid refuse it (and rustix's
    // id types assert against it in the child).
    let ids = [process.uid, process.gid];
    if ids
        .iter()
        .chain(&process.additional_gids)
        .any(|id| *id == u32::MAX)
    {
        return Err(SandboxError::Invalid(format!(
            "user {}:{} (groups {:?}) uses id 4294967295, which no process can have",
            process.uid, process.gid, process.additional_gids
        )));
    }
    let shared_network = shared_network
        .filter(|s| SharedNetwork::suits(confinement) && s.denies() == confinement.network_deny);
    let network = confinement.network;
    // User-mode networking needs slirp4netns: fail before touching anything.
    let private_net = match network {
        NetworkMode::Private if shared_network.is_some() => None,
        NetworkMode::Private => {
            let path = std::env::var("PATH").ok();
            Some(PrivateNet {
                program: slirp::find(path.as_deref())?,
                policy: NetworkPolicy::for_host(&confinement.network_deny)?,
            })
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
        shared_network,
        private_net,
        resolv_conf,
        rootfs,
    })
}
