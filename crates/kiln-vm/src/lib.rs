//! kiln's microVM tier (`--isolation vm`): every RUN step of a stage runs in one QEMU
//! guest with a kernel of its own. The guest agent is kiln itself (PID 1 of the
//! initramfs); inside the guest each step gets the same confinement as on the host. The
//! host sends the step's layers and mounts over a virtio serial port and reads back the
//! step's output, its exit status and its changes as a tar, which the engine parses with
//! the same hardened reader as any layer. The host mounts nothing the guest wrote.

pub mod accel;
mod cache;
pub mod cpio;
pub mod forward;
pub mod frame;
pub mod initramfs;
pub mod kernel;
pub mod kmod;
pub mod machine;
pub mod message;
mod pool;
pub mod session;
mod tsc;

pub use machine::{Accel, MachineSpec};
pub use pool::{Vm, VmOptions};
pub use session::Session;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the VM tier could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("{what}")]
    Kernel { what: String },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}{}", if console.is_empty() { String::new() } else { format!("; the guest's last lines:\n{console}") })]
    Qemu { what: String, console: String },
    #[error("no QEMU: {program} is not in PATH; install Debian's qemu-system-x86 (scripts/deps.sh does)")]
    NoQemu { program: String },
    #[error(transparent)]
    Network(#[from] kiln_sandbox::NetPolicyError),
    #[error("the step ran past its time limit of {limit:?}")]
    TimedOut { limit: Duration },
    #[error("cancelled by signal {why}")]
    Cancelled { why: i32 },
    /// The guest's agent could not run the step (its reason, cleaned of control characters);
    /// `root_content`: because of what the step's root filesystem holds (the input's fault).
    #[error("kiln's agent in the guest could not run it: {message}")]
    Agent { message: String, root_content: bool },
}

/// `name` in `PATH`, else in `/bin`: a program of the host the VM tier runs
/// or copies into the guest.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl VmError {
    pub(crate) fn io(what: &str, path: &Path, source: std::io::Error) -> VmError {
        VmError::Io {
            what: what.to_string(),
            path: path.to_path_buf(),
            source,
        }
    }
}
