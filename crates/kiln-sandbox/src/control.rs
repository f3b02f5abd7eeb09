//! Ending a run early: a cancellation flag shared by every run of a build (set, e.g., by
//! kiln's signal-handling thread on SIGINT/SIGTERM) and a per-run time limit. The backends'
//! wait loops sleep in `poll` on a pidfd of the process they started and on the flag's
//! eventfd, with the time left as the timeout: no polling interval, no extra thread.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::io::Errno;

use crate::SandboxError;

/// A flag that ends the runs observing it. Cloning gives another handle on the same flag.
/// Once set it stays set: its eventfd is never read, so it stays readable for every
/// waiter at once.
#[derive(Debug, Clone)]
pub struct Cancel {
    inner: Arc<CancelInner>,
}

#[derive(Debug)]
struct CancelInner {
    event: OwnedFd,
    /// Why (a signal number), 0 while not cancelled.
    why: AtomicI32,
}

impl Cancel {
    pub fn new() -> Result<Cancel, SandboxError> {
        let event = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| SandboxError::Syscall {
                op: "eventfd (the build's cancellation flag)",
                source: e.into(),
            })?;
        Ok(Cancel {
            inner: Arc::new(CancelInner {
                event,
                why: AtomicI32::new(0),
            }),
        })
    }

    /// Set the flag; `why` (non-zero, e.g. the signal number) is kept from the first call.
    /// Safe to call from any thread (not from a signal handler: use a signal thread).
    pub fn cancel(&self, why: i32) {
        let why = if why == 0 { -1 } else { why };
        let _ = self
            .inner
            .why
            .compare_exchange(0, why, Ordering::SeqCst, Ordering::SeqCst);
        let _ = rustix::io::write(&self.inner.event, &1u64.to_ne_bytes());
    }

    /// `Some(why)` once [`Cancel::cancel`] was called.
    pub fn cancelled(&self) -> Option<i32> {
        match self.inner.why.load(Ordering::SeqCst) {
            0 => None,
            why => Some(why),
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.inner.event.as_fd()
    }
}

/// What may end a run early.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    /// The longest the run may take; then every process of it is killed and the run
    /// fails with [`SandboxError::TimedOut`].
    pub timeout: Option<Duration>,
    /// When set, every process of the run is killed and the run fails with
    /// [`SandboxError::Cancelled`].
    pub cancel: Option<Cancel>,
}

/// How a watched process's wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The process exited (it is not reaped).
    Exited,
    TimedOut(Duration),
    Cancelled(i32),
}

impl Ended {
    /// The error for a run ended early; `None` when the process exited by itself.
    pub(crate) fn error(self) -> Option<SandboxError> {
        match self {
            Ended::Exited => None,
            Ended::TimedOut(limit) => Some(SandboxError::TimedOut { limit }),
            Ended::Cancelled(why) => Some(SandboxError::Cancelled { why }),
        }
    }
}

/// A pidfd for `pid` (a child of this process, not yet reaped).
pub(crate) fn pidfd(pid: i32) -> Result<OwnedFd, SandboxError> {
    let pid = rustix::process::Pid::from_raw(pid).ok_or(SandboxError::Syscall {
        op: "pidfd_open",
        source: std::io::Error::other(format!("invalid pid {pid}")),
    })?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).map_err(|e| {
        SandboxError::Syscall {
            op: "pidfd_open (watching the sandboxed process)",
            source: e.into(),
        }
    })
}

/// Sleep until the process behind `pidfd` exits, `control`'s flag is set, or its time
/// limit (counted from `started`) passes.
pub(crate) fn watch(pidfd: BorrowedFd<'_>, control: &RunControl, started: Instant) -> Ended {
    let deadline = control.timeout.map(|t| (t, started + t));
    loop {
        if let Some(why) = control.cancel.as_ref().and_then(Cancel::cancelled) {
            return Ended::Cancelled(why);
        }
        let left = match deadline {
            Some((limit, at)) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ended::TimedOut(limit);
                }
                Some(Timespec {
                    tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
                    tv_nsec: left.subsec_nanos().into(),
                })
            }
            None => None,
        };
        let mut fds = vec![PollFd::new(&pidfd, PollFlags::IN)];
        if let Some(c) = &control.cancel {
            fds.push(PollFd::from_borrowed_fd(c.fd(), PollFlags::IN));
        }
        match rustix::event::poll(&mut fds, left.as_ref()) {
            Ok(_) if !fds[0].revents().is_empty() => return Ended::Exited,
            // The flag or the deadline: the loop's top says which.
            Ok(_) | Err(Errno::INTR) => continue,
            // Cannot watch: wait as before (the caller's blocking reads).
            Err(_) => return Ended::Exited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_flag_stays_set_for_every_handle_and_keeps_its_first_reason() {
        let c = Cancel::new().expect("eventfd");
        let other = c.clone();
        assert_eq!(other.cancelled(), None);
        c.cancel(15);
        c.cancel(2);
        assert_eq!(other.cancelled(), Some(15));
        let mut fds = [PollFd::from_borrowed_fd(other.fd(), PollFlags::IN)];
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        assert_eq!(rustix::event::poll(&mut fds, Some(&zero)).expect("poll"), 1);
    }
}
