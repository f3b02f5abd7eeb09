use std::io;
use std::path::PathBuf;

/// Why a sandboxed run could not be carried out. The process's own failure
/// is not an error: it is an [`crate::Exit`] with a non-zero code or a signal.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox needs root (uid 0 with CAP_SYS_ADMIN); run kiln as root")]
    NotRoot,
    #[error("invalid run request: {0}")]
    Invalid(String),
    #[error("{op} {path}: {source}; {hint}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
        hint: &'static str,
    },
    /// The step's root filesystem holds something the sandbox cannot set up on: a mount
    /// point that is a dangling symlink, or a path to it that is not a directory. The
    /// root's content is at fault (an image or an earlier step made it), not the host.
    #[error("{op} {path}: {source}; {hint}")]
    RootContent {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
        hint: &'static str,
    },
    #[error("seccomp profile: {0}")]
    Seccomp(String),
    #[error("sandbox setup failed in the child at `{step}`: {source}; {hint}")]
    Setup {
        step: String,
        #[source]
        source: io::Error,
        hint: &'static str,
    },
    #[error("cannot execute {program:?} in the root filesystem: {source}; check that it exists there and is executable")]
    Exec {
        program: String,
        #[source]
        source: io::Error,
    },
    /// User-mode networking (slirp4netns, [`crate::NetworkMode::Private`])
    /// could not be set up.
    #[error("user-mode networking: {what}; {hint}")]
    Network { what: String, hint: &'static str },
    /// The default network's policy could not be put in place.
    #[error("network policy: {0}")]
    NetworkPolicy(#[from] crate::NetPolicyError),
    #[error("{op}: {source}")]
    Syscall {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// The run took longer than [`crate::RunControl::timeout`]: every process of it was
    /// killed.
    #[error(
        "the process did not finish within {limit:?}: it and every process it started were killed"
    )]
    TimedOut { limit: std::time::Duration },
    /// [`crate::RunControl::cancel`] was set (`why`: e.g. the signal kiln received): every
    /// process of the run was killed.
    #[error("the run was cancelled: the process and every process it started were killed")]
    Cancelled { why: i32 },
    #[error("writing the process's {stream}: {source}")]
    Output {
        stream: &'static str,
        #[source]
        source: io::Error,
    },
}

impl SandboxError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
        hint: &'static str,
    ) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
            hint,
        }
    }

    /// The same as [`SandboxError::io`] for a failure the root filesystem's content caused.
    pub(crate) fn root_content(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
        hint: &'static str,
    ) -> Self {
        Self::RootContent {
            op,
            path: path.into(),
            source,
            hint,
        }
    }
}
