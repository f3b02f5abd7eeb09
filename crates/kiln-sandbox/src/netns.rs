//! A network namespace made for an external OCI runtime: held open by a
//! small child process (`lo` up), optionally wired to slirp4netns
//! ([`crate::NetworkMode::Private`]); the runtime joins it by its
//! `/proc/PID/ns/net` path. The child exits (and slirp4netns stops) on drop.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use rustix::io::Errno;
use rustix::pipe::PipeFlags;

use crate::slirp::Slirp;
use crate::{sys, SandboxError};

/// The holder process and the helper wired to it.
pub(crate) struct NetNs {
    pid: libc::pid_t,
    /// Closing it lets the holder exit.
    release_w: Option<OwnedFd>,
    slirp: Option<Slirp>,
}

fn syscall(op: &'static str) -> impl Fn(Errno) -> SandboxError {
    move |e| SandboxError::Syscall {
        op,
        source: e.into(),
    }
}

impl NetNs {
    /// A new network namespace with `lo` up; with `slirp` (the program),
    /// user-mode networking on `tap0`, its log in `log`.
    pub(crate) fn create(slirp: Option<&Path>, log: &Path) -> Result<NetNs, SandboxError> {
        let pipe = || -> Result<(OwnedFd, OwnedFd), SandboxError> {
            let (r, w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(syscall("pipe2"))?;
            Ok((crate::embedded::high(r)?, crate::embedded::high(w)?))
        };
        let (ready_r, ready_w) = pipe()?;
        let (release_r, release_w) = pipe()?;
        let parent = rustix::process::getpid().as_raw_nonzero().get();
        let pid = match sys::fork().map_err(syscall("fork"))? {
            sys::Forked::Child => hold(parent, &ready_w, &release_r),
            sys::Forked::Parent(pid) => pid,
        };
        drop(ready_w);
        drop(release_r);
        let mut ns = NetNs {
            pid,
            release_w: Some(release_w),
            slirp: None,
        };
        let mut byte = [0u8; 1];
        let ready = loop {
            match rustix::io::read(&ready_r, &mut byte) {
                Err(Errno::INTR) => continue,
                other => break other,
            }
        };
        if ready != Ok(1) || byte[0] != 0 {
            let errno = if ready == Ok(1) {
                byte[0]
            } else {
                Errno::IO.raw_os_error() as u8
            };
            return Err(SandboxError::Setup {
                step: "creating a network namespace for the runtime (unshare(net), lo up)"
                    .to_owned(),
                source: Errno::from_raw_os_error(i32::from(errno)).into(),
                hint: "the sandbox needs root and network namespace support",
            });
        }
        if let Some(program) = slirp {
            ns.slirp = Some(Slirp::start(program, pid, log)?);
        }
        Ok(ns)
    }

    /// The namespace's path for the runtime config.
    pub(crate) fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.pid)
    }
}

/// The holder: new network namespace, `lo` up, report, wait for release.
/// Runs in the forked child; never returns.
fn hold(parent: i32, ready_w: &OwnedFd, release_r: &OwnedFd) -> ! {
    let fail = |e: Errno| -> ! {
        // The report byte: 0 for ready, else the errno (all fit in a byte).
        let _ = rustix::io::write(ready_w, &[e.raw_os_error() as u8]);
        sys::exit_now(1)
    };
    if rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .is_err()
        || rustix::process::getppid().map(|p| p.as_raw_nonzero().get()) != Some(parent)
    {
        sys::exit_now(1)
    }
    let mut keep = [ready_w.as_raw_fd(), release_r.as_raw_fd()];
    keep.sort_unstable();
    if let Err(e) = sys::close_all_except(&keep) {
        fail(e)
    }
    if let Err(e) = sys::unshare(libc::CLONE_NEWNET) {
        fail(e)
    }
    if let Err(e) = sys::loopback_up() {
        fail(e)
    }
    let _ = rustix::io::write(ready_w, &[0]);
    let _ = sys::close_range(ready_w.as_raw_fd() as u32, ready_w.as_raw_fd() as u32);
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(release_r, &mut byte) {
            Err(Errno::INTR) => continue,
            _ => sys::exit_now(0),
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Some(mut s) = self.slirp.take() {
            s.stop();
        }
        drop(self.release_w.take());
        while let Err(Errno::INTR) = rustix::process::waitpid(
            rustix::process::Pid::from_raw(self.pid),
            rustix::process::WaitOptions::empty(),
        ) {}
    }
}
