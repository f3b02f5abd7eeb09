//! Exit codes and how failures are shown.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | the input was rejected: a Dockerfile error, an expansion error, a tarball or image archive refused for what it holds; `kiln store verify` found damage |
//! | 2 | the command line was wrong (unknown flag, bad value) |
//! | 3 | a file could not be read or written |
//! | 130 | `kiln build` was interrupted by SIGINT (Ctrl-C): running steps were killed and their files removed |
//! | 143 | `kiln build` was stopped by SIGTERM: the same |
//!
//! A RUN step that fails, or runs longer than `--timeout`, is an input error (1).

pub const SUCCESS: i32 = 0;
pub const INPUT_REJECTED: i32 = 1;
pub const USAGE: i32 = 2;
pub const IO: i32 = 3;
/// Interrupted by signal N: 128 + N (130 for SIGINT, 143 for SIGTERM), as shells report it.
pub const SIGNALLED_BASE: i32 = 128;

/// A failure that has already been rendered for the user.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(USAGE, format!("error: {}", message.into()))
    }

    /// Print the message to stderr and give the exit code.
    pub fn report(self) -> i32 {
        let msg = self.message.trim_end();
        if !msg.is_empty() {
            eprintln!("{msg}");
        }
        self.code
    }
}
