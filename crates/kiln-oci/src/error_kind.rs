//! The class of a failure, shared by every crate's error type: it decides the exit code
//! (`kiln`'s `exit.rs` maps each class to one code) and nothing else.

/// What kind of failure an error is, as the user acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line was wrong: an unknown flag, a bad value, a tag or output spec that
    /// does not parse. Fix the command.
    Usage,
    /// The Dockerfile or another input (a context, a tarball, an archive, an image) was
    /// refused for what it holds. Fix the input.
    Rejected,
    /// A RUN step failed: it exited non-zero, was killed, or ran past `--timeout`. Fix the
    /// step (or what it runs).
    StepFailed,
    /// A local file or the store could not be read or written (disk full, permissions).
    Io,
    /// A registry could not be reached or refused a request (network, auth, not found).
    Registry,
    /// kiln itself failed (a panicked thread, a poisoned lock, a broken invariant): a bug.
    Internal,
    /// The build was stopped by signal N (SIGINT = 2, SIGTERM = 15).
    Cancelled(i32),
}
