//! Code that runs in the forked children, between `fork` and `execve`.
//!
//! Everything here is async-signal-safe in practice: no allocation, no locks,
//! only raw syscalls (rustix's `linux_raw` backend and [`crate::sys`]) on data
//! prepared by the parent in a [`Plan`]. Failures are written to the error
//! pipe as a fixed-size [`Fail`] record and the child `_exit`s.
//!
//! Process tree:
//! - `stage1` (host pid namespace, invisible from the step): joins the
//!   cgroups, unshares the namespaces, makes mount propagation private,
//!   brings `lo` up, in `Private` network mode waits until the parent's
//!   slirp4netns has configured `tap0` ([`NetSync`]), forks `stage2`, waits
//!   for it and writes its exit status on the status pipe. Only stage1 holds
//!   the status pipe: no process of the step can reach it.
//! - `stage2` (pid 1 in the new pid namespace): closes every fd but stdio and
//!   the error pipe, builds the root filesystem, `pivot_root`s, masks paths,
//!   drops privileges, loads seccomp and `execve`s the command, which becomes
//!   pid 1 itself (as under runc and BuildKit: no init of kiln's stays behind,
//!   so nothing of kiln's memory, argv or environment is visible in the step).
//!   When it exits the kernel kills whatever is left in the pid namespace.
//!   A failing `execve` is reported on the error pipe (close-on-exec, so a
//!   running command never holds it).

use std::ffi::{c_char, CStr, CString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use rustix::fs::{self, FileType, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{self, MountFlags, MountPropagationFlags, UnmountFlags};
use rustix::process::{Pid, WaitOptions};
use rustix::thread::{self as rthread, CapabilitySet, CapabilitySets};

use crate::dev_tables::{dev_mounts, DEV_LINKS, DEV_NODES};
use crate::sys;

/// Declares [`Step`] (numbered from 1, as sent over the error pipe) and its list, from one
/// list of names.
macro_rules! steps {
    ($first:ident, $($name:ident),* $(,)?) => {
        /// A setup step that can fail in a child; `index` refines it (which path).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u32)]
        pub(crate) enum Step {
            $first = 1,
            $($name,)*
        }

        impl Step {
            const ALL: &'static [Step] = &[Step::$first, $(Step::$name,)*];

            pub(crate) fn from_u32(v: u32) -> Option<Step> {
                Self::ALL.iter().copied().find(|s| *s as u32 == v)
            }
        }
    };
}

steps!(
    Fds,
    CgroupJoin,
    Unshare,
    Propagation,
    Loopback,
    JoinNetwork,
    Fork,
    BindRoot,
    OpenRoot,
    EtcTarget,
    EtcBind,
    PivotRoot,
    DetachOldRoot,
    MountProc,
    MountDev,
    DevNode,
    DevMount,
    DevLink,
    InlineScript,
    MountSys,
    Mask,
    Readonly,
    Hostname,
    Chdir,
    Seccomp,
    BoundingSet,
    SetUser,
    Capset,
    NoNewPrivs,
    Exec,
    ParentDeath,
    NetworkWait,
    ExtraMount,
    NodevRoot,
);

/// A failure record sent over the error pipe: step, index, errno.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fail {
    pub step: Step,
    pub index: u32,
    pub errno: Errno,
}

pub(crate) const FAIL_LEN: usize = 12;

impl Fail {
    fn encode(&self) -> [u8; FAIL_LEN] {
        let mut b = [0u8; FAIL_LEN];
        b[0..4].copy_from_slice(&(self.step as u32).to_ne_bytes());
        b[4..8].copy_from_slice(&self.index.to_ne_bytes());
        b[8..12].copy_from_slice(&self.errno.raw_os_error().to_ne_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Fail> {
        let word = |i: usize| -> Option<[u8; 4]> { b.get(i..i + 4)?.try_into().ok() };
        Some(Fail {
            step: Step::from_u32(u32::from_ne_bytes(word(0)?))?,
            index: u32::from_ne_bytes(word(4)?),
            errno: Errno::from_raw_os_error(i32::from_ne_bytes(word(8)?)),
        })
    }
}

type R<T = ()> = Result<T, Fail>;

fn at(step: Step, index: u32) -> impl Fn(Errno) -> Fail {
    move |errno| Fail { step, index, errno }
}

fn step(step: Step) -> impl Fn(Errno) -> Fail {
    at(step, 0)
}

/// The exit status message on the status pipe: (0, code) or (1, signal).
pub(crate) const STATUS_LEN: usize = 8;

/// A bind mount of a host temp file onto a file in the rootfs.
#[derive(Debug)]
pub(crate) struct EtcBind {
    /// Absolute path of the temp file (outside the rootfs). A path, not an
    /// fd: an fd opened before `unshare` belongs to the host's mount
    /// namespace and cannot be bind-mounted from.
    pub source: CString,
    /// Path relative to the rootfs, like `etc/hosts`.
    pub target: CString,
}

/// A `RUN --mount`: a bind of a host path or a tmpfs on a path in the rootfs.
#[derive(Debug)]
pub(crate) struct ExtraMount {
    /// Host path to bind (as [`EtcBind::source`]); `None` for a tmpfs.
    pub source: Option<CString>,
    /// Path relative to the rootfs, resolved inside it.
    pub target: CString,
    pub readonly: bool,
    /// tmpfs options (`size=...`).
    pub data: CString,
}

/// The handshake between stage1 and the parent for user-mode networking:
/// stage1 writes a byte on `unshared_w` once its network namespace exists,
/// then waits for a byte on `go_r`, which the parent writes once slirp4netns
/// has configured `tap0` (EOF: the parent gave up).
#[derive(Debug)]
pub(crate) struct NetSync {
    pub unshared_w: OwnedFd,
    pub go_r: OwnedFd,
}

/// Everything the children need, prepared (and allocated) before `fork`.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Our pid, to notice if we died before stage1 set its death signal.
    pub parent_pid: i32,
    pub stdin: OwnedFd,
    pub stdout_w: OwnedFd,
    pub stderr_w: OwnedFd,
    pub error_w: OwnedFd,
    pub status_w: OwnedFd,
    /// v1 `tasks` files, written with "0" by stage1 to join (it was born in the v2 one).
    pub cgroup_procs: Vec<OwnedFd>,
    /// fds stage1 keeps, sorted.
    pub keep: Vec<RawFd>,
    pub unshare_flags: libc::c_int,
    pub loopback: bool,
    /// Set for [`crate::NetworkMode::Private`] with a namespace of the run's own.
    pub net_sync: Option<NetSync>,
    /// A network namespace to join (a duplicate of a [`crate::SharedNetwork`]'s fd).
    pub join_net: Option<OwnedFd>,
    pub rootfs: CString,
    pub etc: Vec<EtcBind>,
    pub mounts: Vec<ExtraMount>,
    /// `/dev/pipes/NAME` path and content (see [`crate::InlineScript`]).
    pub inline_script: Option<(CString, Vec<u8>)>,
    pub masked: Vec<CString>,
    pub readonly: Vec<CString>,
    pub writable_sysfs: bool,
    pub hostname: Vec<u8>,
    pub cwd: CString,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<rustix::process::Gid>,
    pub caps: u64,
    pub last_cap: u32,
    pub no_new_privs: bool,
    pub seccomp: Vec<Vec<libc::sock_filter>>,
    /// Exec candidates (PATH lookup done by the parent).
    pub exec_paths: Vec<CString>,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub argv_ptrs: Vec<*const c_char>,
    pub env_ptrs: Vec<*const c_char>,
}

/// `/proc/self/fd/N` as a C string in `buf`, without allocating.
fn fd_path(fd: RawFd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 10];
    let mut n = fd.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut pos = PREFIX.len();
    for d in digits[..len].iter().rev() {
        buf[pos] = *d;
        pos += 1;
    }
    buf[pos] = 0;
    CStr::from_bytes_until_nul(&buf[..=pos]).unwrap_or(c"/proc/self/fd/")
}

fn report(p: &Plan, fail: Fail) {
    let _ = rustix::io::write(p.error_w.as_fd(), &fail.encode());
}

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
            let mut msg = [0u8; STATUS_LEN];
            let (kind, value) = match st.terminating_signal() {
                Some(sig) => (1i32, sig),
                None => (0i32, st.exit_status().unwrap_or(1)),
            };
            msg[0..4].copy_from_slice(&kind.to_ne_bytes());
            msg[4..8].copy_from_slice(&value.to_ne_bytes());
            let _ = rustix::io::write(p.status_w.as_fd(), &msg);
            sys::exit_now(0)
        }
        _ => sys::exit_now(1),
    }
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

/// pid 1 of the new pid namespace, until it `execve`s the command. Never returns.
fn stage2(p: &Plan) -> ! {
    match stage2_inner(p) {
        Ok(never) => match never {},
        Err(fail) => {
            report(p, fail);
            sys::exit_now(1)
        }
    }
}

/// `/dev/pipes/NAME` with the script (0755), then `/dev/pipes` made read-only.
fn write_inline_script(path: &CStr, data: &[u8]) -> Result<(), Errno> {
    fs::mkdirat(CWD, c"/dev/pipes", Mode::from_raw_mode(0o755))?;
    let fd = fs::openat(
        CWD,
        path,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o755),
    )?;
    let mut rest = data;
    while !rest.is_empty() {
        match rustix::io::write(&fd, rest) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    drop(fd);
    mount::mount_bind(c"/dev/pipes", c"/dev/pipes")?;
    mount::mount_remount(
        c"/dev/pipes",
        MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV,
        c"",
    )
}

fn is_dir(path: &CStr) -> Result<Option<bool>, Errno> {
    match fs::statat(CWD, path, fs::AtFlags::empty()) {
        Ok(st) => Ok(Some(
            FileType::from_raw_mode(st.st_mode) == FileType::Directory,
        )),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
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
    let nodes = clone_standard_nodes()?;
    // The rootfs must be a mount point for pivot_root.
    mount::mount_bind_recursive(p.rootfs.as_c_str(), p.rootfs.as_c_str())
        .map_err(step(Step::BindRoot))?;
    let root = fs::open(
        p.rootfs.as_c_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(step(Step::OpenRoot))?;

    // /etc/hosts, /etc/resolv.conf, /etc/hostname: resolve the targets inside
    // the rootfs (symlinks cannot escape it), then bind through /proc/self/fd.
    for (i, e) in p.etc.iter().enumerate() {
        let i = i as u32;
        let target = fs::openat2(
            &root,
            e.target.as_c_str(),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(at(Step::EtcTarget, i))?;
        let mut tbuf = [0u8; 32];
        mount::mount_bind(e.source.as_c_str(), fd_path(target.as_raw_fd(), &mut tbuf))
            .map_err(at(Step::EtcBind, i))?;
    }
    for (i, m) in p.mounts.iter().enumerate() {
        extra_mount(&root, m).map_err(at(Step::ExtraMount, i as u32))?;
    }
    drop(root);
    // Device nodes in the root filesystem or any mount on it (an image's, or one a step
    // makes with mknod) must not open host devices: all of them are nodev; /dev is a
    // nodev tmpfs with only the standard nodes bound in; the device cgroups are the
    // second line.
    sys::set_nodev_recursive(p.rootfs.as_c_str()).map_err(step(Step::NodevRoot))?;

    rustix::process::chdir(p.rootfs.as_c_str()).map_err(step(Step::PivotRoot))?;
    rustix::process::pivot_root(c".", c".").map_err(step(Step::PivotRoot))?;
    mount::unmount(c".", UnmountFlags::DETACH).map_err(step(Step::DetachOldRoot))?;
    rustix::process::chdir(c"/").map_err(step(Step::DetachOldRoot))?;

    // From here on, every path resolves inside the new root.
    mount::mount(
        c"proc",
        c"/proc",
        c"proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    )
    .map_err(step(Step::MountProc))?;

    mount::mount(
        c"tmpfs",
        c"/dev",
        c"tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::STRICTATIME,
        Some(c"mode=755,size=65536k"),
    )
    .map_err(step(Step::MountDev))?;
    bind_standard_nodes(nodes)?;
    for (i, (source, target, fstype, flags, data, mode)) in dev_mounts().into_iter().enumerate() {
        let f = at(Step::DevMount, i as u32);
        fs::mkdirat(CWD, target, Mode::from_raw_mode(mode)).map_err(&f)?;
        mount::mount(source, target, fstype, flags, data).map_err(&f)?;
    }
    for (i, (to, link)) in DEV_LINKS.iter().enumerate() {
        fs::symlinkat(*to, CWD, *link).map_err(at(Step::DevLink, i as u32))?;
    }
    if let Some((path, data)) = &p.inline_script {
        write_inline_script(path, data).map_err(step(Step::InlineScript))?;
    }

    let sys_flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    let sys_flags = if p.writable_sysfs {
        sys_flags
    } else {
        sys_flags | MountFlags::RDONLY
    };
    mount::mount(c"sysfs", c"/sys", c"sysfs", sys_flags, None).map_err(step(Step::MountSys))?;

    for (i, path) in p.masked.iter().enumerate() {
        let f = at(Step::Mask, i as u32);
        match is_dir(path).map_err(&f)? {
            None => {}
            Some(true) => mount::mount(
                c"tmpfs",
                path.as_c_str(),
                c"tmpfs",
                MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                Some(c"size=0"),
            )
            .map_err(&f)?,
            Some(false) => mount::mount_bind(c"/dev/null", path.as_c_str()).map_err(&f)?,
        }
    }
    for (i, path) in p.readonly.iter().enumerate() {
        let f = at(Step::Readonly, i as u32);
        if is_dir(path).map_err(&f)?.is_none() {
            continue;
        }
        mount::mount_bind_recursive(path.as_c_str(), path.as_c_str()).map_err(&f)?;
        mount::mount_remount(
            path.as_c_str(),
            MountFlags::BIND
                | MountFlags::RDONLY
                | MountFlags::NOSUID
                | MountFlags::NODEV
                | MountFlags::NOEXEC,
            c"",
        )
        .map_err(&f)?;
    }

    rustix::system::sethostname(&p.hostname).map_err(step(Step::Hostname))?;
    rustix::process::chdir(p.cwd.as_c_str()).map_err(step(Step::Chdir))?;

    drop_privileges(p)?;
    // Changing credentials cleared it: set it again, so the step dies with stage1.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(step(Step::ParentDeath))?;
    rustix::process::umask(Mode::from_raw_mode(0o022));
    exec_command(p)
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

type StandardNodes = [Option<OwnedFd>; DEV_NODES.len()];

/// Detached copies (`open_tree(OPEN_TREE_CLONE)`) of the host's standard nodes, each
/// checked to be the character device it should be.
fn clone_standard_nodes() -> R<StandardNodes> {
    let mut nodes: StandardNodes = Default::default();
    for (i, (path, major, minor)) in DEV_NODES.iter().enumerate() {
        let f = at(Step::DevNode, i as u32);
        let fd = mount::open_tree(
            CWD,
            *path,
            mount::OpenTreeFlags::OPEN_TREE_CLONE | mount::OpenTreeFlags::OPEN_TREE_CLOEXEC,
        )
        .map_err(&f)?;
        let st = fs::fstat(&fd).map_err(&f)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice
            || st.st_rdev != fs::makedev(*major, *minor)
        {
            return Err(f(Errno::NODEV));
        }
        // Read-only: reading and writing the device still work, but a chmod, chown or
        // utimes of the host's own inode fails (EROFS).
        sys::set_mount_attrs(
            &fd,
            sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC,
        )
        .map_err(&f)?;
        nodes[i] = Some(fd);
    }
    Ok(nodes)
}

/// An empty file for each standard node on the nodev /dev, the host's node mounted on it.
fn bind_standard_nodes(nodes: StandardNodes) -> R {
    for (i, ((path, _, _), node)) in DEV_NODES.iter().zip(nodes).enumerate() {
        let f = at(Step::DevNode, i as u32);
        let node = node.ok_or_else(|| f(Errno::BADF))?;
        let file = fs::openat(
            CWD,
            *path,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )
        .map_err(&f)?;
        drop(file);
        mount::move_mount(
            &node,
            c"",
            CWD,
            *path,
            mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(&f)?;
    }
    Ok(())
}

/// Mount `m` on its target, resolved inside the root (symlinks cannot leave it).
fn extra_mount(root: &OwnedFd, m: &ExtraMount) -> Result<(), Errno> {
    let open_target = || {
        fs::openat2(
            root,
            m.target.as_c_str(),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    };
    let target = open_target()?;
    let mut tbuf = [0u8; 32];
    let flags = MountFlags::NOSUID | MountFlags::NODEV;
    match &m.source {
        Some(source) => {
            mount::mount_bind(source.as_c_str(), fd_path(target.as_raw_fd(), &mut tbuf))?;
            // The new mount is found by resolving the target again (the old fd
            // still names the directory below it).
            let mounted = open_target()?;
            let mut mbuf = [0u8; 32];
            let ro = if m.readonly {
                MountFlags::RDONLY
            } else {
                MountFlags::empty()
            };
            mount::mount_remount(
                fd_path(mounted.as_raw_fd(), &mut mbuf),
                MountFlags::BIND | flags | ro,
                c"",
            )
        }
        None => mount::mount(
            c"tmpfs",
            fd_path(target.as_raw_fd(), &mut tbuf),
            c"tmpfs",
            flags,
            Some(m.data.as_c_str()),
        ),
    }
}

fn load_seccomp(p: &Plan) -> R {
    for prog in &p.seccomp {
        sys::load_seccomp(prog).map_err(step(Step::Seccomp))?;
    }
    Ok(())
}

/// Bounding set, user and groups, capabilities, no_new_privs, seccomp.
fn drop_privileges(p: &Plan) -> R {
    // Loading a filter without no_new_privs needs CAP_SYS_ADMIN, which is
    // about to go: load it while we still have it.
    if !p.no_new_privs {
        load_seccomp(p)?;
    }
    for cap in 0..=p.last_cap.min(63) {
        if p.caps & (1u64 << cap) == 0 {
            match sys::drop_bounding_cap(cap) {
                Ok(()) | Err(Errno::INVAL) => {}
                Err(e) => return Err(at(Step::BoundingSet, cap)(e)),
            }
        }
    }
    let user = step(Step::SetUser);
    rthread::set_keep_capabilities(true).map_err(&user)?;
    rthread::set_thread_groups(&p.groups).map_err(&user)?;
    rthread::set_thread_gid(rustix::process::Gid::from_raw(p.gid)).map_err(&user)?;
    rthread::set_thread_uid(rustix::process::Uid::from_raw(p.uid)).map_err(&user)?;
    rthread::set_keep_capabilities(false).map_err(&user)?;

    let set = CapabilitySet::from_bits_retain(p.caps);
    rthread::set_capabilities(
        None,
        CapabilitySets {
            effective: set,
            permitted: set,
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(step(Step::Capset))?;
    rthread::clear_ambient_capability_set().map_err(step(Step::Capset))?;

    if p.no_new_privs {
        rthread::set_no_new_privs(true).map_err(step(Step::NoNewPrivs))?;
        // Last privileged step before exec.
        load_seccomp(p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_round_trips_through_the_error_pipe_record() {
        let mut n = 0;
        for v in 0..100 {
            if let Some(step) = Step::from_u32(v) {
                n += 1;
                let fail = Fail {
                    step,
                    index: 7,
                    errno: Errno::ACCESS,
                };
                let back = Fail::decode(&fail.encode()).map(|f| (f.step, f.index, f.errno));
                assert_eq!(back, Some((step, 7, Errno::ACCESS)));
            }
        }
        assert_eq!(n, Step::NodevRoot as u32, "Step::from_u32 misses a step");
        assert!(Fail::decode(&[0u8; 4]).is_none());
        assert!(Fail::decode(&[0u8; FAIL_LEN]).is_none());
    }

    #[test]
    fn fd_paths_are_formatted_without_allocation() {
        let mut buf = [0u8; 32];
        assert_eq!(fd_path(0, &mut buf), c"/proc/self/fd/0");
        assert_eq!(fd_path(1234567, &mut buf), c"/proc/self/fd/1234567");
        assert_eq!(fd_path(i32::MAX, &mut buf), c"/proc/self/fd/2147483647");
    }
}
