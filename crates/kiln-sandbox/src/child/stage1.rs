//! stage1: in the host's pid namespace, it joins the cgroups, unshares the namespaces,
//! waits for the network, forks stage2 and reports the step's exit status.

use std::os::fd::{AsFd, AsRawFd};

use rustix::io::Errno;
use rustix::mount::{self, MountPropagationFlags};
use rustix::process::{Pid, WaitOptions};

use super::fail::{at, step, Step, R, STATUS_LEN};
use super::{report, stage2::stage2, NetSync, Plan};
use crate::sys;

/// Entry point of the first child. Never returns.
pub(crate) fn stage1(p: &Plan) -> ! {
    match stage1_inner(p) {
        Ok(never) => match never {},
        Err(fail) => {
            report(p, fail);
            sys::exit_now(1)
        }
    }
}

fn retry_wait(pid: Option<Pid>) -> Result<Option<(Pid, rustix::process::WaitStatus)>, Errno> {
    loop {
        match rustix::process::waitpid(pid, WaitOptions::empty()) {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

fn stage1_inner(p: &Plan) -> R<std::convert::Infallible> {
    // If kiln dies, the sandbox dies with it (and init takes the rest).
    let death = step(Step::ParentDeath);
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(&death)?;
    if rustix::process::getppid().map(|p| p.as_raw_nonzero().get()) != Some(p.parent_pid) {
        return Err(death(Errno::SRCH));
    }
    // A session of its own, without a controlling terminal: the step cannot open kiln's
    // terminal as /dev/tty (and push keystrokes into it with TIOCSTI).
    rustix::process::setsid().map_err(step(Step::Fds))?;
    let fds = step(Step::Fds);
    sys::dup2(p.stdin.as_raw_fd(), 0).map_err(&fds)?;
    sys::dup2(p.stdout_w.as_raw_fd(), 1).map_err(&fds)?;
    sys::dup2(p.stderr_w.as_raw_fd(), 2).map_err(&fds)?;
    sys::close_all_except(&p.keep).map_err(&fds)?;

    for (i, fd) in p.cgroup_procs.iter().enumerate() {
        rustix::io::write(fd, b"0").map_err(at(Step::CgroupJoin, i as u32))?;
    }
    sys::unshare(p.unshare_flags).map_err(step(Step::Unshare))?;
    // First thing in the new mount namespace: nothing we mount may propagate
    // back to the host.
    mount::mount_change(
        c"/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(step(Step::Propagation))?;
    if let Some(ns) = &p.join_net {
        rustix::thread::move_into_link_name_space(
            ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(step(Step::JoinNetwork))?;
    }
    if p.loopback {
        sys::loopback_up().map_err(step(Step::Loopback))?;
    }
    if let Some(sync) = &p.net_sync {
        wait_for_network(sync)?;
    }
    let command = match sys::fork_raw().map_err(step(Step::Fork))? {
        sys::Forked::Child => stage2(p),
        sys::Forked::Parent(pid) => pid,
    };
    // stage1 keeps only stdio and the status pipe.
    let mut keep = [0, 1, 2, p.status_w.as_raw_fd()];
    keep.sort_unstable();
    let _ = sys::close_all_except(&keep);
    // pid 1 of the namespace leaves after every other process in it is gone.
    match retry_wait(Pid::from_raw(command)) {
        Ok(Some((_, st))) => {
            report_status(p, st);
            sys::exit_now(0)
        }
        _ => sys::exit_now(1),
    }
}

/// The step's exit status on the status pipe: (0, code) or (1, signal).
fn report_status(p: &Plan, st: rustix::process::WaitStatus) {
    let mut msg = [0u8; STATUS_LEN];
    let (kind, value) = match st.terminating_signal() {
        Some(sig) => (1i32, sig),
        None => (0i32, st.exit_status().unwrap_or(1)),
    };
    msg[0..4].copy_from_slice(&kind.to_ne_bytes());
    msg[4..8].copy_from_slice(&value.to_ne_bytes());
    let _ = rustix::io::write(p.status_w.as_fd(), &msg);
}

/// Tell the parent the network namespace exists; wait until slirp4netns
/// has configured it. Closes both handshake fds.
fn wait_for_network(sync: &NetSync) -> R {
    let f = step(Step::NetworkWait);
    let result = (|| {
        loop {
            match rustix::io::write(&sync.unshared_w, b"1") {
                Ok(1) => break,
                Ok(_) => return Err(f(Errno::PIPE)),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(f(e)),
            }
        }
        let mut byte = [0u8; 1];
        loop {
            match rustix::io::read(&sync.go_r, &mut byte) {
                Ok(1) => return Ok(()),
                Ok(_) => return Err(f(Errno::PIPE)),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(f(e)),
            }
        }
    })();
    for fd in [sync.unshared_w.as_raw_fd(), sync.go_r.as_raw_fd()] {
        let _ = sys::close_range(fd as u32, fd as u32);
    }
    result
}
