//! stage2: pid 1 of the new pid namespace. It builds the root filesystem, `pivot_root`s
//! into it, drops privileges and `execve`s the command.

use std::os::fd::AsRawFd;

use rustix::fs::{self, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{self, UnmountFlags};

use super::fail::{at, step, Step, R};
use super::{binds, dev, masks, privileges, report, Plan};
use crate::sys;

/// pid 1 of the new pid namespace, until it `execve`s the command. Never returns.
pub(super) fn stage2(p: &Plan) -> ! {
    match stage2_inner(p) {
        Ok(never) => match never {},
        Err(fail) => {
            report(p, fail);
            sys::exit_now(1)
        }
    }
}

fn stage2_inner(p: &Plan) -> R<std::convert::Infallible> {
    // Nothing of stage1's but stdio and the error pipe (close-on-exec) reaches the step:
    // not the status pipe, the cgroup files or the network namespace.
    let mut keep = [0, 1, 2, p.error_w.as_raw_fd()];
    keep.sort_unstable();
    sys::close_all_except(&keep).map_err(step(Step::Fds))?;
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(step(Step::ParentDeath))?;
    rustix::process::umask(Mode::empty());

    // The standard nodes, cloned from the host's /dev while it is still reachable.
    let nodes = dev::clone_standard_nodes()?;
    bind_into_root(p)?;
    pivot_into_root(p)?;

    // From here on, every path resolves inside the new root.
    dev::mount_proc_and_dev(p, nodes)?;
    masks::mount_sys(p)?;
    masks::mask_paths(p)?;
    masks::readonly_paths(p)?;

    rustix::system::sethostname(&p.hostname).map_err(step(Step::Hostname))?;
    rustix::process::chdir(p.cwd.as_c_str()).map_err(step(Step::Chdir))?;

    privileges::drop_privileges(p)?;
    // Changing credentials cleared it: set it again, so the step dies with stage1.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(step(Step::ParentDeath))?;
    rustix::process::umask(Mode::from_raw_mode(0o022));
    exec_command(p)
}

/// The rootfs made a mount point, the /etc files and the run's mounts bound into it
/// (targets resolved inside it), and every mount on it made nodev.
fn bind_into_root(p: &Plan) -> R {
    // The rootfs must be a mount point for pivot_root.
    mount::mount_bind_recursive(p.rootfs.as_c_str(), p.rootfs.as_c_str())
        .map_err(step(Step::BindRoot))?;
    let root = fs::open(
        p.rootfs.as_c_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(step(Step::OpenRoot))?;
    binds::bind_etc_files(&root, &p.etc)?;
    for (i, m) in p.mounts.iter().enumerate() {
        binds::extra_mount(&root, m).map_err(at(Step::ExtraMount, i as u32))?;
    }
    drop(root);
    // Device nodes in the root filesystem or any mount on it (an image's, or one a step
    // makes with mknod) must not open host devices: all of them are nodev; /dev is a
    // nodev tmpfs with only the standard nodes bound in; the device cgroups are the
    // second line.
    sys::set_nodev_recursive(p.rootfs.as_c_str()).map_err(step(Step::NodevRoot))
}

/// `pivot_root` into the rootfs and detach the old root.
fn pivot_into_root(p: &Plan) -> R {
    rustix::process::chdir(p.rootfs.as_c_str()).map_err(step(Step::PivotRoot))?;
    rustix::process::pivot_root(c".", c".").map_err(step(Step::PivotRoot))?;
    mount::unmount(c".", UnmountFlags::DETACH).map_err(step(Step::DetachOldRoot))?;
    rustix::process::chdir(c"/").map_err(step(Step::DetachOldRoot))
}

/// Become the command (pid 1 of the step); on failure say why on the error pipe.
fn exec_command(p: &Plan) -> R<std::convert::Infallible> {
    sys::reset_signals();
    let mut worst = Errno::NOENT;
    for path in &p.exec_paths {
        let e = sys::execve(path, &p.argv_ptrs, &p.env_ptrs);
        if e != Errno::NOENT && e != Errno::NOTDIR {
            worst = e;
        }
    }
    report(p, at(Step::Exec, 0)(worst));
    sys::exit_now(if worst == Errno::NOENT { 127 } else { 126 })
}
