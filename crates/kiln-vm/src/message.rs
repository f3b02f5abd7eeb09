//! The messages of the channel (JSON in one frame each), and the step as the guest agent
//! receives it: the sandbox's run request without host paths or host resources.

use kiln_sandbox::{Confinement, Limits, NetworkMode, SeccompPolicy};
use serde::{Deserialize, Serialize};

/// The version of this protocol; the agent and kiln are the same binary, so a mismatch
/// means a stale or foreign initramfs.
pub const PROTOCOL: u32 = 2;

/// The agent's first frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    /// The guest kernel's release (`uname -r`).
    pub kernel: String,
}

/// A layer blob (compressed as in the store) follows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerHeader {
    /// The blob's digest (`sha256:<hex>`): the name the guest keeps it under.
    pub digest: String,
}

/// A tar of a mount's files follows, for the step's mount `index`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountHeader {
    pub index: usize,
}

/// One RUN step for the guest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestStep {
    /// Blob digests of the step's layers, bottom first; each was sent before.
    pub layers: Vec<String>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// USER as written (`name`, `uid:gid`, ...), resolved in the guest's view of the layers.
    pub user: String,
    pub hostname: String,
    pub hosts: String,
    pub resolv_conf: String,
    pub confinement: GuestConfinement,
    pub mounts: Vec<GuestMount>,
    /// A heredoc script put at `/dev/pipes/NAME`: (name, content in hex; JSON would
    /// spell raw bytes as a number each).
    pub inline_script: Option<(String, String)>,
    /// Send the step's changes back (a tar in [`crate::frame::Kind::Data`] frames) after a
    /// successful run; the mounts whose files come back follow it.
    pub want_changes: bool,
}

/// A mount of the step inside the guest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestMount {
    pub target: String,
    pub kind: GuestMountKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum GuestMountKind {
    /// A fresh tmpfs.
    Tmpfs { size: Option<u64> },
    /// Files sent before the step (a [`MountHeader`] with this mount's index); with
    /// `back` (a cache mount), what the step changed in them is sent back after it, as a
    /// tar with whiteouts for what it removed.
    Files {
        readonly: bool,
        back: bool,
        /// A single file (not a directory) named this inside the sent tar.
        file: Option<String>,
        /// A directory's own owner and mode (uid, gid, permission bits): the tar holds
        /// only what is inside it (a cache mount's `uid=`, `gid=`, `mode=`).
        dir: Option<(u32, u32, u32)>,
    },
    /// A socket whose connections the host forwards to an ssh-agent (`type=ssh`), with
    /// its owner and mode (uid, gid, permission bits).
    Agent { uid: u32, gid: u32, mode: u32 },
}

/// The step's confinement inside the guest: as on the host, but its network is the
/// guest's own (the host filters what QEMU's user-mode network may reach).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestConfinement {
    pub capabilities: Vec<String>,
    /// `None`: no filter; `Some("")`: Docker's default; else a profile.
    pub seccomp: Option<String>,
    pub no_new_privs: bool,
    /// Share the guest's network (it has a NIC) or get only loopback.
    pub network: bool,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub writable_sysfs: bool,
    pub memory: Option<u64>,
    pub pids: Option<u64>,
    pub cpus: Option<f64>,
}

impl GuestConfinement {
    pub fn from_host(c: &Confinement) -> GuestConfinement {
        GuestConfinement {
            capabilities: c.capabilities.clone(),
            seccomp: match &c.seccomp {
                SeccompPolicy::Default => Some(String::new()),
                SeccompPolicy::Unconfined => None,
                SeccompPolicy::Profile(p) => Some(p.clone()),
            },
            no_new_privs: c.no_new_privs,
            network: c.network != NetworkMode::None,
            masked_paths: c.masked_paths.clone(),
            readonly_paths: c.readonly_paths.clone(),
            writable_sysfs: c.writable_sysfs,
            memory: c.limits.memory,
            pids: c.limits.pids,
            cpus: c.limits.cpus,
        }
    }

    /// The sandbox's confinement in a guest that has a NIC (`guest_nic`) or not. The step
    /// runs in the guest's own network namespace when it may use the network, and also
    /// when it may not but the guest has no NIC (then that namespace holds only loopback).
    /// The guest is the stage's alone and its agent has no socket there, so the steps of
    /// a stage share that namespace as the steps of an `oci` build share theirs; a
    /// namespace made for each step cost several milliseconds of every step under
    /// emulation. A step without network in a guest with a NIC (`RUN --network=none`)
    /// gets a namespace of its own with only loopback.
    pub fn to_sandbox(&self, guest_nic: bool) -> Confinement {
        Confinement {
            capabilities: self.capabilities.clone(),
            seccomp: match &self.seccomp {
                None => SeccompPolicy::Unconfined,
                Some(p) if p.is_empty() => SeccompPolicy::Default,
                Some(p) => SeccompPolicy::Profile(p.clone()),
            },
            no_new_privs: self.no_new_privs,
            network: if self.network || !guest_nic {
                NetworkMode::Host
            } else {
                NetworkMode::None
            },
            network_deny: Vec::new(),
            masked_paths: self.masked_paths.clone(),
            readonly_paths: self.readonly_paths.clone(),
            writable_sysfs: self.writable_sysfs,
            limits: Limits {
                memory: self.memory,
                pids: self.pids,
                cpus: self.cpus,
            },
        }
    }
}
