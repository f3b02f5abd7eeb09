//! Every raw, privileged or async-signal-sensitive call that needs `unsafe`.
//!
//! Nothing else in the crate uses `unsafe` but [`crate::bpf`] (the `bpf(2)` calls). All functions here are thin
//! wrappers that do not allocate, so they may be called in a child between
//! `fork` and `execve`.
#![allow(unsafe_code)]

use std::ffi::{c_char, CStr};
use std::os::fd::RawFd;

use rustix::io::Errno;

fn last() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)
}

fn check(rc: libc::c_long) -> Result<libc::c_long, Errno> {
    if rc < 0 {
        Err(last())
    } else {
        Ok(rc)
    }
}

/// Result of [`fork`].
pub(crate) enum Forked {
    Child,
    Parent(libc::pid_t),
}

/// `fork(2)` through libc, so libc's at-fork handlers (malloc locks) run.
///
/// The child must only call async-signal-safe code (no allocation) and end
/// with [`exit_now`] or `execve`.
pub(crate) fn fork() -> Result<Forked, Errno> {
    // SAFETY: fork has no memory-safety preconditions; the callers restrict the
    // child to non-allocating code that ends in `_exit` or `execve`.
    let pid = unsafe { libc::fork() };
    match pid {
        0 => Ok(Forked::Child),
        p if p > 0 => Ok(Forked::Parent(p)),
        _ => Err(last()),
    }
}

/// `fork(2)` as a raw system call, for a process that is itself a child of [`fork`] or
/// [`fork_into_cgroup`] (stage1 forking the step): libc's at-fork handlers must not run
/// there. After a raw clone3 the malloc locks are copies, in whatever state another of
/// kiln's threads held them, so libc's handler could wait on one forever (it did).
///
/// The child must only call async-signal-safe code (no allocation) and end with
/// [`exit_now`] or `execve`.
pub(crate) fn fork_raw() -> Result<Forked, Errno> {
    // SAFETY: clone with only SIGCHLD and no new stack behaves as fork: the child gets a
    // copy of the address space and continues here with 0; the zero arguments (stack,
    // tid pointers, tls) are unused without the flags that read them.
    let rc = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_long, 0, 0, 0, 0) };
    match check(rc)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// `clone3(CLONE_INTO_CGROUP)`: [`fork`], the child born in the cgroup v2 directory open
/// as `cgroup` (no migration afterwards, so no threadgroup lock and RCU grace period).
///
/// A raw system call: libc's at-fork handlers do not run, so the child must not touch
/// anything they protect (it must not allocate, which the callers' children never do)
/// and must end with [`exit_now`] or `execve`.
pub(crate) fn fork_into_cgroup(cgroup: RawFd) -> Result<Forked, Errno> {
    /// `struct clone_args` (linux/sched.h), up to `cgroup`.
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup as u64,
    };
    // SAFETY: `args` is a live struct clone_args of the size passed; without CLONE_VM or a
    // new stack this behaves like fork (the child gets a copy of the address space and
    // continues here with 0); the callers restrict the child as documented above.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match check(rc)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// `_exit(2)`: leave without running atexit handlers or destructors.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// `unshare(2)`. Called in a single-threaded forked child, or with only
/// `CLONE_NEWNET` on a thread of its own (which changes only that thread).
pub(crate) fn unshare(flags: libc::c_int) -> Result<(), Errno> {
    // SAFETY: plain syscall with an integer argument; the caller is a
    // single-threaded child, so no other thread shares its fd table or fs info,
    // or asks only for CLONE_NEWNET, which shares neither.
    check(unsafe { libc::unshare(flags) }.into()).map(drop)
}

/// `dup2(2)`.
pub(crate) fn dup2(from: RawFd, to: RawFd) -> Result<(), Errno> {
    // SAFETY: dup2 only manipulates the fd table; the child owns all of it.
    check(unsafe { libc::dup2(from, to) }.into()).map(drop)
}

/// `close_range(2)` for `first..=last`.
pub(crate) fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    if first > last {
        return Ok(());
    }
    // SAFETY: closing fds in a forked child that owns no Rust objects using them.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) }).map(drop)
}

/// Close every fd except those in `keep` (sorted ascending, no duplicates).
pub(crate) fn close_all_except(keep: &[RawFd]) -> Result<(), Errno> {
    let mut next: u32 = 0;
    for &fd in keep {
        let fd = fd as u32;
        if fd > next {
            close_range(next, fd - 1)?;
        }
        next = fd.saturating_add(1);
    }
    close_range(next, u32::MAX)
}

/// `prctl(PR_CAPBSET_DROP, cap)`.
pub(crate) fn drop_bounding_cap(cap: u32) -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
    check(rc.into()).map(drop)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, prog)`. Does not touch no_new_privs.
pub(crate) fn load_seccomp(prog: &[libc::sock_filter]) -> Result<(), Errno> {
    let len = u16::try_from(prog.len()).map_err(|_| Errno::TOOBIG)?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel
    // copies the program before returning.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0u32,
            &fprog as *const libc::sock_fprog,
        )
    };
    check(rc).map(drop)
}

/// Bring the loopback interface of the current network namespace up.
pub(crate) fn loopback_up() -> Result<(), Errno> {
    link_up("lo")
}

/// An `AF_INET` datagram socket for interface requests, closed on drop.
struct IfSocket(libc::c_int);

impl IfSocket {
    fn open() -> Result<IfSocket, Errno> {
        // SAFETY: socket() with constant arguments.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(last());
        }
        Ok(IfSocket(fd))
    }

    /// ioctl `request` on `arg`, a value of the type the request takes.
    fn ioctl<T>(&self, request: libc::c_ulong, arg: &mut T) -> Result<(), Errno> {
        // SAFETY: every caller passes the struct its request reads or writes.
        let rc = unsafe { libc::ioctl(self.0, request as _, arg as *mut T) };
        check(rc as libc::c_long).map(drop)
    }
}

impl Drop for IfSocket {
    fn drop(&mut self) {
        // SAFETY: our own fd, closed once.
        unsafe { libc::close(self.0) };
    }
}

/// An interface request naming `name` (EINVAL if it does not fit).
fn ifreq(name: &str) -> Result<libc::ifreq, Errno> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return Err(Errno::INVAL);
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as c_char;
    }
    Ok(req)
}

/// `addr` as the `sockaddr` of an interface request.
fn sockaddr(addr: std::net::Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; the kernel reads it as the
    // family says.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// Bring interface `name` of the current network namespace up.
pub fn link_up(name: &str) -> Result<(), Errno> {
    let sock = IfSocket::open()?;
    let mut req = ifreq(name)?;
    sock.ioctl(libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: after SIOCGIFFLAGS the union holds ifru_flags.
    unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    sock.ioctl(libc::SIOCSIFFLAGS, &mut req)
}

/// Give interface `name` the IPv4 address `addr`/`prefix`.
pub fn set_ipv4(name: &str, addr: std::net::Ipv4Addr, prefix: u8) -> Result<(), Errno> {
    let sock = IfSocket::open()?;
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_addr = sockaddr(addr);
    sock.ioctl(libc::SIOCSIFADDR, &mut req)?;
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    req.ifr_ifru.ifru_netmask = sockaddr(mask.into());
    sock.ioctl(libc::SIOCSIFNETMASK, &mut req)
}

/// Route everything not on a local network through `gateway`.
pub fn add_default_route(gateway: std::net::Ipv4Addr) -> Result<(), Errno> {
    let sock = IfSocket::open()?;
    // SAFETY: rtentry is plain old data; all-zero is a valid value.
    let mut route: libc::rtentry = unsafe { std::mem::zeroed() };
    route.rt_dst = sockaddr(std::net::Ipv4Addr::UNSPECIFIED);
    route.rt_genmask = sockaddr(std::net::Ipv4Addr::UNSPECIFIED);
    route.rt_gateway = sockaddr(gateway);
    route.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
    sock.ioctl(libc::SIOCADDRT, &mut route)
}

/// Reset signal dispositions we may have inherited (Rust ignores SIGPIPE)
/// and unblock every signal, as a freshly started process expects.
pub(crate) fn reset_signals() {
    for sig in 1..libc::SIGRTMIN() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL is always valid; errors (invalid signal
        // numbers) are ignored on purpose.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: an empty sigset built by sigemptyset is valid for sigprocmask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// `MOUNT_ATTR_RDONLY`, `MOUNT_ATTR_NOSUID`, `MOUNT_ATTR_NODEV`, `MOUNT_ATTR_NOEXEC`.
pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `mount_setattr(dirfd, path, flags)` setting the `set` attributes (`MOUNT_ATTR_*`).
fn mount_setattr(dirfd: i32, path: &CStr, flags: libc::c_uint, set: u64) -> Result<(), Errno> {
    /// `struct mount_attr`.
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `path` is NUL-terminated and `attr` a live struct mount_attr of the size
    // passed; the kernel only reads them during the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(rc).map(drop)
}

/// `mount_setattr(path, AT_RECURSIVE)` setting `nodev` on the mount at `path` and every
/// mount below it.
pub(crate) fn set_nodev_recursive(path: &CStr) -> Result<(), Errno> {
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    mount_setattr(libc::AT_FDCWD, path, AT_RECURSIVE, MOUNT_ATTR_NODEV)
}

/// Set `set` (`MOUNT_ATTR_*`) on the (detached or attached) mount open as `fd`.
pub(crate) fn set_mount_attrs(fd: &impl std::os::fd::AsRawFd, set: u64) -> Result<(), Errno> {
    mount_setattr(
        fd.as_raw_fd(),
        c"",
        libc::AT_EMPTY_PATH as libc::c_uint,
        set,
    )
}

/// `execve(2)`. Returns only on failure.
///
/// `argv` and `envp` must be NULL-terminated arrays of pointers to
/// NUL-terminated strings that stay alive for the call.
pub(crate) fn execve(path: &CStr, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    if argv.last().is_some_and(|p| !p.is_null()) || envp.last().is_some_and(|p| !p.is_null()) {
        return Errno::INVAL;
    }
    // SAFETY: both arrays are NULL-terminated (checked above) and point at
    // CStrings owned by the caller for the duration of the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    last()
}

/// SIGKILL this process when the thread that forked it dies (`PR_SET_PDEATHSIG`); for
/// `pre_exec` hooks: one async-signal-safe syscall, no allocation.
fn die_with_parent() -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Prepare `cmd` (a helper started by the parent, like slirp4netns) so that
/// the spawned process keeps `fds` open across `execve` (at the same numbers)
/// and gets SIGKILL when the thread that spawned it dies; with `join_cgroup`
/// (an open `cgroup.procs`), it moves into that cgroup before `execve`.
///
/// The fds must stay open in the parent until `spawn` returns.
pub(crate) fn inherit_fds_and_die_with_parent<const N: usize>(
    cmd: &mut std::process::Command,
    fds: [RawFd; N],
    join_cgroup: Option<RawFd>,
) {
    use std::os::unix::process::CommandExt;
    let hook = move || -> std::io::Result<()> {
        die_with_parent()?;
        if let Some(procs) = join_cgroup {
            // SAFETY: writes one byte from a static buffer to an fd the parent keeps open
            // (a cgroup.procs file): "0" moves this process into that cgroup.
            if unsafe { libc::write(procs, b"0".as_ptr().cast(), 1) } != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        for fd in fds {
            // SAFETY: clears FD_CLOEXEC on our own copy of an fd the parent
            // keeps open during spawn; only this child's fd table changes.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs between fork and exec in the child and only makes
    // async-signal-safe syscalls (prctl, write, fcntl); it neither allocates nor
    // takes locks (`last_os_error` only reads errno).
    unsafe { cmd.pre_exec(hook) };
}

/// Prepare `cmd` (an OCI runtime) to die with the thread that spawns it and to run in a
/// private mount namespace of its own where
/// - the root filesystem `rootfs` is a bind mount with `nodev` on it and every mount
///   below it (the runtime's own bind of it inherits that), so a device node in the
///   image or made by the step opens nothing;
/// - when `hide_unified` is set, the cgroup v2 hierarchy of a hybrid layout
///   (`/sys/fs/cgroup/unified`) is unmounted: crun refuses hybrid layouts whose v2
///   side has controllers, and without it sees a plain v1 layout (where it applies
///   limits).
///
/// Nothing in the namespace propagates back to the host.
pub(crate) fn runtime_child_setup(
    cmd: &mut std::process::Command,
    hide_unified: bool,
    rootfs: std::ffi::CString,
) {
    use std::os::unix::process::CommandExt;
    let hook = move || -> std::io::Result<()> {
        let os = |e: Errno| std::io::Error::from_raw_os_error(e.raw_os_error());
        die_with_parent()?;
        unshare(libc::CLONE_NEWNS).map_err(os)?;
        // SAFETY: mount/umount2 with NUL-terminated strings (constants, or `rootfs`, owned
        // by this closure) and null data; they only change this child's new mount namespace.
        unsafe {
            if libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if hide_unified
                && libc::umount2(c"/sys/fs/cgroup/unified".as_ptr(), libc::MNT_DETACH) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if libc::mount(
                rootfs.as_ptr(),
                rootfs.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        set_nodev_recursive(&rootfs).map_err(os)
    };
    // SAFETY: the hook runs between fork and exec in the child and only makes
    // async-signal-safe syscalls (prctl, unshare, mount, umount2, mount_setattr); it
    // neither allocates nor takes locks.
    unsafe { cmd.pre_exec(hook) };
}
