//! Starting a helper process on the host (QEMU for the VM tier): it dies with kiln, and
//! may run in a network policy's cgroup so that every connection it makes is filtered.

use crate::netpolicy::PolicyCgroup;
use std::os::fd::AsRawFd;
use std::process::{Child, Command};

/// Spawn `cmd` so that it gets SIGKILL when kiln goes away, inside `cgroup` when given.
pub fn spawn_helper(mut cmd: Command, cgroup: Option<&PolicyCgroup>) -> std::io::Result<Child> {
    let procs = cgroup.map(|c| c.procs().as_raw_fd());
    crate::sys::inherit_fds_and_die_with_parent(&mut cmd, [], procs);
    crate::slirp::spawn_from_lasting_thread(cmd)
}
