//! Exit codes and how failures are shown.
//!
//! Every failure carries a [`kiln_oci::ErrorKind`]; [`code`] is the one place that turns a
//! kind into an exit code. Commands never pick a number themselves: they ask the error for
//! its `kind()` (or, for a failure the CLI finds itself, name the kind).
//!
//! | code | kind | meaning |
//! |------|------|---------|
//! | 0 | | success |
//! | 1 | `Rejected` | the input was rejected: a Dockerfile, expansion or build-step error, a tarball, archive, image or registry content refused for what it holds; lint findings at `--fail-level`; `kiln store verify` found damage |
//! | 2 | `Usage` | the command line was wrong: an unknown flag, a bad value, a tag, output, cache, platform, secret, ssh, runtime, network or timeout spec that does not parse (checked before any step runs) |
//! | 3 | `Io` | a local file or the store could not be read or written; a step's isolation could not be set up |
//! | 4 | `StepFailed` | a RUN step failed: it exited non-zero, was killed, or ran longer than `--timeout` |
//! | 5 | `Registry` | a registry could not be reached or refused a request (network, TLS, auth, not found) |
//! | 6 | `Internal` | kiln itself failed (a panicked thread, a poisoned lock): a bug, please report it |
//! | 128+N | `Cancelled(N)` | `kiln build` was stopped by signal N: 130 for SIGINT (Ctrl-C), 143 for SIGTERM; running steps were killed and their files removed |

use kiln_oci::ErrorKind;

pub const SUCCESS: i32 = 0;

/// The exit code of a failure of `kind`: the table above, in one place.
pub fn code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Rejected => 1,
        ErrorKind::Usage => 2,
        ErrorKind::Io => 3,
        ErrorKind::StepFailed => 4,
        ErrorKind::Registry => 5,
        ErrorKind::Internal => 6,
        // As shells report a process killed by signal N.
        ErrorKind::Cancelled(signal) => 128 + signal,
    }
}

/// A failure that has already been rendered for the user.
#[derive(Debug)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(ErrorKind::Usage, format!("error: {}", message.into()))
    }

    /// Print the message to stderr and give the exit code.
    pub fn report(self) -> i32 {
        let msg = self.message.trim_end();
        if !msg.is_empty() {
            eprintln!("{msg}");
        }
        code(self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_documented_code() {
        let table = [
            (ErrorKind::Rejected, 1),
            (ErrorKind::Usage, 2),
            (ErrorKind::Io, 3),
            (ErrorKind::StepFailed, 4),
            (ErrorKind::Registry, 5),
            (ErrorKind::Internal, 6),
            (ErrorKind::Cancelled(2), 130),
            (ErrorKind::Cancelled(15), 143),
        ];
        for (kind, want) in table {
            assert_eq!(code(kind), want, "{kind:?}");
        }
    }

    #[test]
    fn an_internal_failure_exits_6_with_its_message() {
        // No honest way to make kiln fail internally from outside: the mapping is tested here.
        let f = Failure::new(ErrorKind::Internal, "error: a build thread panicked");
        assert_eq!(f.report(), 6);
    }
}
