//! What a failure record from the sandbox's children means, for the error message:
//! the step that failed, what it was about (which path, mount or capability) and a hint.

use std::ffi::CString;

use crate::child::{EtcBind, ExtraMount, Fail, Step};
use crate::SandboxError;

/// What error messages name (the parent keeps them from the plan after the fork).
pub(crate) struct Names {
    pub(crate) etc: Vec<EtcBind>,
    pub(crate) mounts: Vec<ExtraMount>,
    pub(crate) masked: Vec<CString>,
    pub(crate) readonly: Vec<CString>,
    pub(crate) cwd: CString,
    pub(crate) rootfs: CString,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) arg0: String,
}

pub(crate) fn describe(fail: &Fail, plan: &Names) -> SandboxError {
    let (step, hint) = match fail.step {
        Step::Fds
        | Step::CgroupJoin
        | Step::Unshare
        | Step::Propagation
        | Step::Loopback
        | Step::JoinNetwork
        | Step::Fork
        | Step::ParentDeath
        | Step::NetworkWait => namespace_step(fail.step),
        Step::BindRoot
        | Step::OpenRoot
        | Step::EtcTarget
        | Step::EtcBind
        | Step::ExtraMount
        | Step::NodevRoot
        | Step::PivotRoot
        | Step::DetachOldRoot => root_step(fail, plan),
        Step::MountProc
        | Step::MountDev
        | Step::DevNode
        | Step::DevMount
        | Step::DevLink
        | Step::InlineScript
        | Step::MountSys
        | Step::Mask
        | Step::Readonly => system_mount_step(fail, plan),
        Step::Hostname
        | Step::Chdir
        | Step::Seccomp
        | Step::BoundingSet
        | Step::SetUser
        | Step::Capset
        | Step::NoNewPrivs => process_step(fail, plan),
        Step::Exec => {
            return SandboxError::Exec {
                program: plan.arg0.to_owned(),
                source: fail.errno.into(),
            }
        }
    };
    SandboxError::Setup {
        step,
        source: fail.errno.into(),
        hint,
    }
}

/// A step of stage1: namespaces, cgroups, network, the fork of the step.
fn namespace_step(step: Step) -> (String, &'static str) {
    match step {
        Step::Fds => (
            "setting up stdio and closing inherited fds".to_owned(),
            "this is a bug",
        ),
        Step::CgroupJoin => (
            "joining the v1 cgroups (write to their tasks files)".to_owned(),
            "check the cgroup controllers",
        ),
        Step::Unshare => (
            "unshare(mount, pid, ipc, uts, cgroup, net)".to_owned(),
            "the sandbox needs root and namespace support; inside a container, run it --privileged",
        ),
        Step::Propagation => (
            "mount --make-rprivate /".to_owned(),
            "the sandbox needs CAP_SYS_ADMIN",
        ),
        Step::Loopback => (
            "bringing up lo".to_owned(),
            "the sandbox needs CAP_NET_ADMIN",
        ),
        Step::JoinNetwork => (
            "joining the build's network namespace (setns)".to_owned(),
            "the namespace is gone: run the build again",
        ),
        Step::Fork => (
            "fork of the step's first process (pid 1 of its pid namespace)".to_owned(),
            "check pids limits",
        ),
        Step::ParentDeath => (
            "prctl(PR_SET_PDEATHSIG)".to_owned(),
            "kiln exited while starting the sandbox",
        ),
        Step::NetworkWait => (
            "waiting for user-mode networking (slirp4netns)".to_owned(),
            "kiln stopped before slirp4netns was ready; run the step again",
        ),
        other => (format!("{other:?}"), "this is a bug"),
    }
}

/// A step that builds the root: the rootfs bind, the /etc files and the run's mounts,
/// nodev, pivot_root.
fn root_step(fail: &Fail, plan: &Names) -> (String, &'static str) {
    let i = fail.index as usize;
    let etc = || {
        plan.etc
            .get(i)
            .map(|e| format!("/{}", e.target.to_string_lossy()))
            .unwrap_or_default()
    };
    match fail.step {
        Step::BindRoot => (
            format!("bind mount of the rootfs {}", plan.rootfs.to_string_lossy()),
            "the rootfs must be a directory on a local filesystem",
        ),
        Step::OpenRoot => (
            "opening the bind-mounted rootfs".to_owned(),
            "check the rootfs",
        ),
        Step::EtcTarget => (
            format!("opening mount point {}", etc()),
            "it must be a regular file in the rootfs",
        ),
        Step::EtcBind => (
            format!("bind mount of {}", etc()),
            "it must be a regular file in the rootfs",
        ),
        Step::ExtraMount => (
            format!(
                "RUN --mount on /{}",
                plan.mounts
                    .get(i)
                    .map(|m| m.target.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            "the target must be a directory (a file for a file source) in the root filesystem",
        ),
        Step::NodevRoot => (
            format!(
                "making the rootfs {} and its mounts nodev (mount_setattr)",
                plan.rootfs.to_string_lossy()
            ),
            "the kernel must support mount_setattr (Linux 5.12 or later)",
        ),
        Step::PivotRoot => (
            "pivot_root into the rootfs".to_owned(),
            "the rootfs must not be on a ramfs/rootfs mount",
        ),
        Step::DetachOldRoot => ("detaching the old root".to_owned(), "this is a bug"),
        other => (format!("{other:?}"), "this is a bug"),
    }
}

/// A step that mounts /proc, /dev, /sys, or masks or makes read-only a path.
fn system_mount_step(fail: &Fail, plan: &Names) -> (String, &'static str) {
    let name = |v: &[CString]| {
        v.get(fail.index as usize)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match fail.step {
        Step::MountProc => (
            "mount proc on /proc".to_owned(),
            "/proc in the rootfs must be a directory",
        ),
        Step::MountDev => (
            "mount tmpfs on /dev".to_owned(),
            "/dev in the rootfs must be a directory",
        ),
        Step::DevNode => (
            format!(
                "binding the host's {} into the sandbox's /dev",
                crate::dev_tables::dev_node_name(fail.index)
            ),
            "the host's /dev must hold the standard character devices (null 1:3, zero 1:5, full 1:7, random 1:8, urandom 1:9, tty 5:0)",
        ),
        Step::DevMount => (
            format!("mount {}", crate::dev_tables::dev_mount_name(fail.index)),
            "check kernel support for devpts/mqueue",
        ),
        Step::DevLink => (
            format!("symlink {}", crate::dev_tables::dev_link_name(fail.index)),
            "this is a bug",
        ),
        Step::InlineScript => (
            "writing the heredoc script under /dev/pipes".to_owned(),
            "the script must fit in /dev (64 MiB)",
        ),
        Step::MountSys => (
            "mount sysfs read-only on /sys".to_owned(),
            "/sys in the rootfs must be a directory",
        ),
        Step::Mask => (
            format!("masking {}", name(&plan.masked)),
            "check the masked path",
        ),
        Step::Readonly => (
            format!("read-only remount of {}", name(&plan.readonly)),
            "check the read-only path",
        ),
        other => (format!("{other:?}"), "this is a bug"),
    }
}

/// A step that sets up the process: hostname, cwd, user, capabilities, seccomp.
fn process_step(fail: &Fail, plan: &Names) -> (String, &'static str) {
    match fail.step {
        Step::Hostname => (
            "sethostname".to_owned(),
            "use a hostname of at most 64 bytes",
        ),
        Step::Chdir => (
            format!("chdir to {}", plan.cwd.to_string_lossy()),
            "the working directory must exist in the rootfs",
        ),
        Step::Seccomp => (
            "loading the seccomp filter".to_owned(),
            "check the seccomp profile",
        ),
        Step::BoundingSet => (
            format!("dropping capability {} from the bounding set", fail.index),
            "the sandbox needs CAP_SETPCAP",
        ),
        Step::SetUser => (
            format!("setgroups/setgid({})/setuid({})", plan.gid, plan.uid),
            "the seccomp profile must allow these calls",
        ),
        Step::Capset => ("capset".to_owned(), "check the capability list"),
        Step::NoNewPrivs => ("prctl(PR_SET_NO_NEW_PRIVS)".to_owned(), "this is a bug"),
        other => (format!("{other:?}"), "this is a bug"),
    }
}
