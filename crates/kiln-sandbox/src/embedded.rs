//! The namespaces backend: parent side (preparation, fork, output, cleanup).

use std::ffi::{c_char, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::pipe::PipeFlags;

use crate::cgroup::{CgroupRoots, Cgroups};
use crate::child::{self, EtcBind, ExtraMount, Fail, NetSync, Plan, FAIL_LEN, STATUS_LEN};
use crate::control::{self, Ended};
use crate::describe::{describe, Names};
use crate::preflight::CheckedRequest;
use crate::run_setup;
use crate::slirp::{self, Slirp};
use crate::{
    caps, seccomp, sys, Exit, NetworkMode, RunControl, RunRequest, Sandbox, SandboxError,
    SeccompPolicy, DEFAULT_PATH,
};

/// Runs the process in new namespaces of this host's kernel.
///
/// The command is pid 1 of its own pid namespace (the process that set up the
/// sandbox `execve`s it, as runc does): nothing of kiln's stays visible in
/// the step. When it exits, the kernel kills any leftover process; a helper
/// in the host's pid namespace waits for it and reports its status.
#[derive(Debug, Default, Clone, Copy)]
pub struct Embedded;

impl Sandbox for Embedded {
    fn run_controlled(
        &self,
        req: RunRequest<'_>,
        control: &RunControl,
    ) -> Result<Exit, SandboxError> {
        run(req, control)
    }
}

pub(crate) fn cstring(what: &str, s: &str) -> Result<CString, SandboxError> {
    CString::new(s).map_err(|_| SandboxError::Invalid(format!("{what} {s:?} contains a NUL byte")))
}

fn os(op: &'static str) -> impl Fn(Errno) -> SandboxError {
    move |e| SandboxError::Syscall {
        op,
        source: e.into(),
    }
}

/// A private temporary directory (under `$TMPDIR`).
pub(crate) fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, SandboxError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| SandboxError::io("creating temp dir", std::env::temp_dir(), e, "check TMPDIR"))
}

/// fds the children use must not collide with 0/1/2.
pub(crate) fn high(fd: OwnedFd) -> Result<OwnedFd, SandboxError> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(os("fcntl(F_DUPFD_CLOEXEC)"))
}

/// The plan's form of the run's extra mounts (targets relative to the rootfs).
fn extra_mounts(mounts: &[crate::Mount]) -> Result<Vec<ExtraMount>, SandboxError> {
    mounts
        .iter()
        .map(|m| {
            let rel = relative_target(&m.target)?;
            let (source, readonly, data) = match &m.kind {
                crate::MountKind::Bind { source, readonly } => (
                    Some(cstring("mount source", &source.to_string_lossy())?),
                    *readonly,
                    String::new(),
                ),
                crate::MountKind::Tmpfs { size } => (
                    None,
                    false,
                    size.map(|s| format!("size={s}")).unwrap_or_default(),
                ),
            };
            Ok(ExtraMount {
                source,
                target: cstring("mount target", &rel)?,
                readonly,
                data: cstring("tmpfs options", &data)?,
            })
        })
        .collect()
}

/// `/a/b/` as `a/b`; the root itself and `..` components are refused.
pub(crate) fn relative_target(target: &str) -> Result<String, SandboxError> {
    if !target.starts_with('/') {
        return Err(SandboxError::Invalid(format!(
            "mount target {target:?} must be an absolute path"
        )));
    }
    let parts: Vec<&str> = target
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") {
        return Err(SandboxError::Invalid(format!(
            "mount target {target:?} must name a path below / without `..`"
        )));
    }
    Ok(parts.join("/"))
}

/// Executable candidates for `arg0`, following the process's PATH.
fn exec_candidates(arg0: &str, env: &[String]) -> Result<Vec<CString>, SandboxError> {
    if arg0.contains('/') {
        return Ok(vec![cstring("program", arg0)?]);
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|dir| {
            let dir = if dir.is_empty() { "." } else { dir };
            cstring("program", &format!("{}/{arg0}", dir.trim_end_matches('/')))
        })
        .collect()
}

/// The script's path under `/dev/pipes` and its bytes; the name must be one component.
fn prepare_inline_script(s: crate::InlineScript) -> Result<(CString, Vec<u8>), SandboxError> {
    run_setup::check_inline_script_name(&s.name)?;
    let path = cstring(
        "inline script name",
        &format!("{}/{}", crate::INLINE_SCRIPT_DIR, s.name),
    )?;
    Ok((path, s.data))
}

fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

pub(crate) fn unique_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Copy a pipe into a writer until EOF; keep draining if the writer fails.
pub(crate) fn pump(
    from: OwnedFd,
    mut to: Box<dyn Write + Send>,
    stream: &'static str,
) -> Result<(), SandboxError> {
    let mut from = File::from(from);
    let mut buf = [0u8; 16 * 1024];
    let mut failed = None;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                failed.get_or_insert(e);
                break;
            }
        };
        if failed.is_none() {
            if let Err(e) = to.write_all(&buf[..n]) {
                failed = Some(e);
            }
        }
    }
    if failed.is_none() {
        if let Err(e) = to.flush() {
            failed = Some(e);
        }
    }
    failed.map_or(Ok(()), |source| {
        Err(SandboxError::Output { stream, source })
    })
}

/// Wait for stage1's "network namespace exists" byte; false on EOF (stage1
/// failed before, and said why on the error pipe).
fn unshared(fd: OwnedFd) -> bool {
    let mut byte = [0u8; 1];
    let mut fd = File::from(fd);
    loop {
        match fd.read(&mut byte) {
            Ok(n) => return n == 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

/// Private network: start slirp4netns once stage1 has its namespace, then
/// let stage1 go on. On failure `go_w` closes, stage1 reads EOF and exits,
/// and the error is returned. If stage1 failed before unsharing, neither
/// happens: the error pipe says why.
fn start_network(
    unshared_r: OwnedFd,
    go_w: OwnedFd,
    net: &crate::preflight::PrivateNet,
    pid: libc::pid_t,
    log: &Path,
) -> (Option<Slirp>, Option<SandboxError>) {
    if !unshared(unshared_r) {
        return (None, None);
    }
    match Slirp::start(&net.program, slirp::Target::Pid(pid), log, &net.policy) {
        Ok(slirp) => match rustix::io::write(&go_w, b"1") {
            Ok(_) => (Some(slirp), None),
            Err(e) => (
                Some(slirp),
                Some(SandboxError::Syscall {
                    op: "releasing the sandbox after slirp4netns started (write to its sync pipe)",
                    source: e.into(),
                }),
            ),
        },
        Err(e) => (None, Some(e)),
    }
}

/// End the run now: SIGKILL to the step's pid 1 (stage1's child). The kernel then kills
/// every process of its pid namespace, background ones that ignore SIGTERM included, and
/// stage1 reaps pid 1 only once they are all gone: when stage1 exits, the step's cgroups
/// are empty and can be removed. Before pid 1 exists, stage1 itself is killed (which also
/// stops a fork of pid 1 under way). Through pidfds, so a recycled pid is never hit.
fn kill_sandbox(stage1: libc::pid_t, stage1_fd: &OwnedFd) {
    let children = format!("/proc/{stage1}/task/{stage1}/children");
    let pid1 = std::fs::read_to_string(children)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<i32>().ok())
        .and_then(|p| control::pidfd(p).ok());
    let target = pid1.as_ref().unwrap_or(stage1_fd);
    let _ = rustix::process::pidfd_send_signal(target, rustix::process::Signal::KILL);
}

fn read_all(fd: OwnedFd) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = File::from(fd).read_to_end(&mut v);
    v
}

/// One run: check, prepare everything that allocates, fork, supervise, clean up.
fn run(req: RunRequest<'_>, control: &RunControl) -> Result<Exit, SandboxError> {
    let started = std::time::Instant::now();
    let mut req = crate::preflight::check_request(req)?;
    let arg0 = req
        .request
        .process
        .args
        .first()
        .cloned()
        .unwrap_or_default();
    let script = req.request.inline_script.take();
    let command = Command::prepare(&req, script, &arg0)?;

    let rootfs_c = cstring("rootfs", &req.rootfs.to_string_lossy())?;
    let root_fd = run_setup::open_rootfs(&req.rootfs)?;
    let extra = extra_mounts(&req.request.mounts)?;
    let targets = req
        .request
        .mounts
        .iter()
        .zip(&extra)
        .map(|(m, e)| (e.target.to_string_lossy().into_owned(), m.kind.is_dir()));
    let mount_points = run_setup::mount_points(&root_fd, &req.rootfs, targets)?;

    // Files bound over /etc/{hosts,resolv.conf,hostname}, never inside the rootfs. The step
    // may write them (as in Docker), so they live on a private tmpfs: mode 0700, nosuid,
    // nodev, noexec (the binds keep those flags) and 16 MiB at most, never the host's /tmp.
    let tmp = crate::TmpfsDir::new("kiln-sandbox-")?;
    let etc = run_setup::write_etc_files(tmp.path(), &req)?
        .into_iter()
        .map(|(name, path)| {
            Ok(EtcBind {
                source: cstring("temp path", &path.to_string_lossy())?,
                target: cstring("path", &format!("etc/{name}"))?,
            })
        })
        .collect::<Result<Vec<_>, SandboxError>>()?;

    let mut cgroups = Cgroups::create(
        &CgroupRoots::host(),
        &unique_id(),
        &req.request.confinement.limits,
    )?;
    let cgroup_procs = std::mem::take(&mut cgroups.procs)
        .into_iter()
        .map(high)
        .collect::<Result<Vec<_>, _>>()?;
    let (fds, parent) = open_pipes(
        cgroup_procs,
        req.private_net.is_some(),
        req.request.shared_network,
    )?;
    let plan = plan(fds, command, &req, rootfs_c, etc, extra);

    // --- fork ------------------------------------------------------------
    // Into the v2 cgroup at birth (the v1 ones stage1 joins itself, thread-wise: cheap).
    let forked = match &cgroups.clone_into {
        Some(cg) => sys::fork_into_cgroup(cg.as_raw_fd()).map_err(os("clone3(CLONE_INTO_CGROUP)")),
        None => sys::fork().map_err(os("fork")),
    };
    let pid = match forked? {
        sys::Forked::Child => child::stage1(&plan),
        sys::Forked::Parent(pid) => pid,
    };
    let names = close_child_ends(plan, arg0);

    let slirp_log = tmp.path().join("slirp4netns.log");
    let io = StepIo {
        stdout: req.request.stdout,
        stderr: req.request.stderr,
        parent,
    };
    let watch = Watch {
        pid,
        control,
        started,
        private_net: req.private_net.as_ref(),
        slirp_log: &slirp_log,
    };
    let outcome = supervise(io, &watch, &cgroups);

    // The step is over: stop slirp4netns before anything else.
    if let Some(mut s) = outcome.slirp {
        s.stop();
    }
    let cleanup = cgroups.remove();
    drop(mount_points);
    drop(tmp);
    result(outcome.report, cleanup, &names)
}

/// The command and its confinement in the form the children need, allocated before fork.
struct Command {
    argv: Vec<CString>,
    env: Vec<CString>,
    exec_paths: Vec<CString>,
    masked: Vec<CString>,
    readonly: Vec<CString>,
    cwd: CString,
    inline_script: Option<(CString, Vec<u8>)>,
    caps: u64,
    seccomp: Vec<Vec<libc::sock_filter>>,
}

impl Command {
    fn prepare(
        req: &CheckedRequest<'_>,
        inline_script: Option<crate::InlineScript>,
        arg0: &str,
    ) -> Result<Command, SandboxError> {
        let (process, confinement) = (&req.request.process, &req.request.confinement);
        let cstrings = |what: &str, v: &[String]| {
            v.iter()
                .map(|a| cstring(what, a))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Command {
            argv: cstrings("argument", &process.args)?,
            env: cstrings("environment entry", &process.env)?,
            exec_paths: exec_candidates(arg0, &process.env)?,
            masked: cstrings("masked path", &confinement.masked_paths)?,
            readonly: cstrings("read-only path", &confinement.readonly_paths)?,
            cwd: cstring("cwd", &process.cwd)?,
            inline_script: inline_script.map(prepare_inline_script).transpose()?,
            caps: caps::mask(&confinement.capabilities)?,
            seccomp: seccomp_programs(confinement)?,
        })
    }
}

/// The compiled seccomp filters of the confinement's policy (none when unconfined).
fn seccomp_programs(
    confinement: &crate::Confinement,
) -> Result<Vec<Vec<libc::sock_filter>>, SandboxError> {
    let json = match &confinement.seccomp {
        SeccompPolicy::Unconfined => return Ok(Vec::new()),
        SeccompPolicy::Profile(j) => j.as_str(),
        SeccompPolicy::Default => seccomp::DOCKER_DEFAULT_PROFILE,
    };
    let ctx = seccomp::Context {
        capabilities: &confinement.capabilities,
        kernel: seccomp::running_kernel(),
    };
    seccomp::compile_cached(json, &ctx)
}

/// The children's ends of the pipes and the fds stage1 keeps.
struct ChildFds {
    stdin: OwnedFd,
    stdout_w: OwnedFd,
    stderr_w: OwnedFd,
    error_w: OwnedFd,
    status_w: OwnedFd,
    cgroup_procs: Vec<OwnedFd>,
    net_sync: Option<NetSync>,
    join_net: Option<OwnedFd>,
    keep: Vec<RawFd>,
}

/// The parent's ends: output, the error and status reports, the network handshake.
struct ParentEnds {
    stdout_r: OwnedFd,
    stderr_r: OwnedFd,
    error_r: OwnedFd,
    status_r: OwnedFd,
    /// `unshared_r` and `go_w` of [`NetSync`].
    net: Option<(OwnedFd, OwnedFd)>,
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let (r, w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(os("pipe2"))?;
    Ok((high(r)?, high(w)?))
}

fn open_pipes(
    cgroup_procs: Vec<OwnedFd>,
    private_net: bool,
    shared_network: Option<&crate::SharedNetwork>,
) -> Result<(ChildFds, ParentEnds), SandboxError> {
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    let (error_r, error_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let stdin = high(
        rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(
            |e| SandboxError::io("opening", "/dev/null", e.into(), "the host needs /dev/null"),
        )?,
    )?;

    // Private network: stage1 says when its namespace exists (unshared),
    // the parent says when slirp4netns has configured it (go).
    let (net_sync, net) = if private_net {
        let (unshared_r, unshared_w) = pipe()?;
        let (go_r, go_w) = pipe()?;
        (Some(NetSync { unshared_w, go_r }), Some((unshared_r, go_w)))
    } else {
        (None, None)
    };

    let mut keep: Vec<RawFd> = vec![0, 1, 2, error_w.as_raw_fd(), status_w.as_raw_fd()];
    keep.extend(cgroup_procs.iter().map(|f| f.as_raw_fd()));
    if let Some(sync) = &net_sync {
        keep.extend([sync.unshared_w.as_raw_fd(), sync.go_r.as_raw_fd()]);
    }
    let join_net = shared_network
        .map(|n| {
            rustix::io::fcntl_dupfd_cloexec(n.namespace(), 3).map_err(os("fcntl(F_DUPFD_CLOEXEC)"))
        })
        .transpose()?;
    keep.extend(join_net.iter().map(|f| f.as_raw_fd()));
    keep.sort_unstable();
    keep.dedup();
    let fds = ChildFds {
        stdin,
        stdout_w,
        stderr_w,
        error_w,
        status_w,
        cgroup_procs,
        net_sync,
        join_net,
        keep,
    };
    let parent = ParentEnds {
        stdout_r,
        stderr_r,
        error_r,
        status_r,
        net,
    };
    Ok((fds, parent))
}

/// Everything the children need, in one [`Plan`].
fn plan(
    fds: ChildFds,
    command: Command,
    req: &CheckedRequest<'_>,
    rootfs: CString,
    etc: Vec<EtcBind>,
    mounts: Vec<ExtraMount>,
) -> Plan {
    let (process, confinement) = (&req.request.process, &req.request.confinement);
    let mut unshare_flags = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWCGROUP;
    let new_net = confinement.network != NetworkMode::Host && fds.join_net.is_none();
    if new_net {
        unshare_flags |= libc::CLONE_NEWNET;
    }
    let groups = process
        .additional_gids
        .iter()
        .map(|g| rustix::process::Gid::from_raw(*g))
        .collect();
    let mut plan = Plan {
        parent_pid: rustix::process::getpid().as_raw_nonzero().get(),
        stdin: fds.stdin,
        stdout_w: fds.stdout_w,
        stderr_w: fds.stderr_w,
        error_w: fds.error_w,
        status_w: fds.status_w,
        cgroup_procs: fds.cgroup_procs,
        keep: fds.keep,
        unshare_flags,
        loopback: new_net,
        net_sync: fds.net_sync,
        join_net: fds.join_net,
        rootfs,
        etc,
        mounts,
        inline_script: command.inline_script,
        masked: command.masked,
        readonly: command.readonly,
        writable_sysfs: confinement.writable_sysfs,
        hostname: process.hostname.as_bytes().to_vec(),
        cwd: command.cwd,
        uid: process.uid,
        gid: process.gid,
        groups,
        caps: command.caps,
        last_cap: last_cap(),
        no_new_privs: confinement.no_new_privs,
        seccomp: command.seccomp,
        exec_paths: command.exec_paths,
        argv: command.argv,
        env: command.env,
        argv_ptrs: Vec::new(),
        env_ptrs: Vec::new(),
    };
    let pointers = |v: &[CString]| -> Vec<*const c_char> {
        v.iter()
            .map(|a| a.as_ptr())
            .chain([std::ptr::null::<c_char>()])
            .collect()
    };
    plan.argv_ptrs = pointers(&plan.argv);
    plan.env_ptrs = pointers(&plan.env);
    plan
}

/// Parent: close the children's ends so EOFs arrive (`plan` is dropped here); keep the
/// names a failure report needs.
fn close_child_ends(plan: Plan, arg0: String) -> Names {
    Names {
        etc: plan.etc,
        mounts: plan.mounts,
        masked: plan.masked,
        readonly: plan.readonly,
        cwd: plan.cwd,
        rootfs: plan.rootfs,
        uid: plan.uid,
        gid: plan.gid,
        arg0,
    }
}

/// The step's output destinations and the parent's ends of the pipes.
struct StepIo {
    stdout: Box<dyn Write + Send>,
    stderr: Box<dyn Write + Send>,
    parent: ParentEnds,
}

/// The running step and what ends it.
struct Watch<'a> {
    pid: libc::pid_t,
    control: &'a RunControl,
    started: std::time::Instant,
    private_net: Option<&'a crate::preflight::PrivateNet>,
    slirp_log: &'a Path,
}

/// What the children reported, and how the run ended.
struct Report {
    stdout: Result<(), SandboxError>,
    stderr: Result<(), SandboxError>,
    net_error: Option<SandboxError>,
    ended: Ended,
    error_bytes: Vec<u8>,
    status_bytes: Vec<u8>,
    waited: Result<Option<(rustix::process::Pid, rustix::process::WaitStatus)>, Errno>,
}

struct Outcome {
    slirp: Option<Slirp>,
    report: Report,
}

/// Pump the output, start the private network, watch for the end (a timeout or cancel
/// kills the sandbox), then collect the reports and reap stage1.
fn supervise(io: StepIo, w: &Watch<'_>, cgroups: &Cgroups) -> Outcome {
    let StepIo {
        stdout,
        stderr,
        parent,
    } = io;
    // Watched until it exits (or the run is ended early); without a pidfd (kernels before
    // 5.3) the run cannot be ended early and is waited for as before.
    let watched = control::pidfd(w.pid).ok();
    std::thread::scope(|s| {
        // The pumps run before the command can start, as without network.
        let out = s.spawn(move || pump(parent.stdout_r, stdout, "stdout"));
        let err = s.spawn(move || pump(parent.stderr_r, stderr, "stderr"));
        let (slirp, net_error) = match (parent.net, w.private_net) {
            (Some((unshared_r, go_w)), Some(private_net)) => {
                start_network(unshared_r, go_w, private_net, w.pid, w.slirp_log)
            }
            _ => (None, None),
        };
        let ended = watched.as_ref().map_or(Ended::Exited, |fd| {
            control::watch(fd.as_fd(), w.control, w.started)
        });
        if let (Some(fd), false) = (&watched, ended == Ended::Exited) {
            kill_sandbox(w.pid, fd);
            cgroups.kill_all();
        }
        let error_bytes = read_all(parent.error_r);
        let status_bytes = read_all(parent.status_r);
        let waited = loop {
            match rustix::process::waitpid(
                rustix::process::Pid::from_raw(w.pid),
                rustix::process::WaitOptions::empty(),
            ) {
                Err(Errno::INTR) => continue,
                other => break other,
            }
        };
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<(), SandboxError>>, stream| {
            h.join().unwrap_or_else(|_| {
                Err(SandboxError::Output {
                    stream,
                    source: io::Error::other("output thread panicked"),
                })
            })
        };
        Outcome {
            slirp,
            report: Report {
                stdout: join(out, "stdout"),
                stderr: join(err, "stderr"),
                net_error,
                ended,
                error_bytes,
                status_bytes,
                waited,
            },
        }
    })
}

/// The run's result, once everything is cleaned up: an early end, a network or setup
/// failure, an output error, the cleanup's error, then the step's exit status.
fn result(
    r: Report,
    cleanup: Result<(), SandboxError>,
    names: &Names,
) -> Result<Exit, SandboxError> {
    if let Some(e) = r.ended.error() {
        cleanup?;
        return Err(e);
    }
    if let Some(e) = r.net_error {
        return Err(e);
    }
    if r.error_bytes.len() >= FAIL_LEN {
        if let Some(fail) = Fail::decode(&r.error_bytes) {
            return Err(describe(&fail, names));
        }
    }
    r.stdout?;
    r.stderr?;
    cleanup?;
    if let Some(exit) = decode_status(&r.status_bytes) {
        return Ok(exit);
    }
    // No report from stage1: it died itself (for example killed with the build).
    match r.waited.map_err(os("waitpid"))? {
        Some((_, st)) => Ok(Exit {
            code: st.exit_status(),
            signal: st.terminating_signal(),
        }),
        None => Err(SandboxError::Syscall {
            op: "waitpid",
            source: io::Error::other("child vanished"),
        }),
    }
}

/// stage1's status message: (0, code) or (1, signal); `None` if it sent none.
fn decode_status(b: &[u8]) -> Option<Exit> {
    let word =
        |i: usize| -> Option<i32> { Some(i32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?)) };
    if b.len() < STATUS_LEN {
        return None;
    }
    let (kind, value) = (word(0)?, word(4)?);
    Some(if kind == 1 {
        Exit {
            code: None,
            signal: Some(value),
        }
    } else {
        Exit {
            code: Some(value),
            signal: None,
        }
    })
}
