//! The namespaces backend: parent side (preparation, fork, output, cleanup).

use std::ffi::{c_char, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::Timespec;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timestamps};
use rustix::io::Errno;
use rustix::pipe::PipeFlags;

use crate::cgroup::Cgroups;
use crate::child::{self, EtcBind, Fail, NetSync, Plan, Step, FAIL_LEN, STATUS_LEN};
use crate::slirp::{self, Slirp};
use crate::SharedNetwork;
use crate::{
    caps, seccomp, sys, Exit, NetworkMode, RunRequest, Sandbox, SandboxError, SeccompPolicy,
};

/// Docker's default `PATH`, used when the environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs the process in new namespaces of this host's kernel.
///
/// The command runs as pid 2 under a tiny init (pid 1) that reaps zombies
/// and exits when the command exits, which kills any leftover process.
#[derive(Debug, Default, Clone, Copy)]
pub struct Embedded;

impl Sandbox for Embedded {
    fn run(&self, req: RunRequest<'_>) -> Result<Exit, SandboxError> {
        run(req)
    }
}

fn cstring(what: &str, s: &str) -> Result<CString, SandboxError> {
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

/// A mount point created in the rootfs for the run, removed afterwards.
struct Created {
    parent: OwnedFd,
    name: CString,
    dir: bool,
    /// The parent directory's times before the entry was created, put back
    /// after it is removed so a layer diff does not see the directory change.
    parent_times: Option<Timestamps>,
}

/// Mount points created in the rootfs; removed (if still empty) on drop.
#[derive(Default)]
struct MountPoints(Vec<Created>);

impl MountPoints {
    /// Make sure `rel` (relative to the rootfs, resolved inside it) exists.
    fn ensure(
        &mut self,
        root: &OwnedFd,
        rootfs: &Path,
        rel: &str,
        dir: bool,
    ) -> Result<(), SandboxError> {
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let full = rootfs.join(rel);
        match rustix::fs::openat2(
            root,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        ) {
            Ok(_) => return Ok(()),
            Err(Errno::NOENT) => {}
            Err(e) => {
                return Err(SandboxError::io(
                    "looking up mount point",
                    full,
                    e.into(),
                    "fix or remove it in the root filesystem",
                ))
            }
        }
        let (parent_rel, name) = match rel.rsplit_once('/') {
            Some((p, n)) => (p, n),
            None => (".", rel),
        };
        if parent_rel != "." {
            self.ensure(root, rootfs, parent_rel, true)?;
        }
        let parent = rustix::fs::openat2(
            root,
            parent_rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )
        .map_err(|e| {
            SandboxError::io(
                "opening directory",
                rootfs.join(parent_rel),
                e.into(),
                "it must be a directory in the root filesystem",
            )
        })?;
        if rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            return Err(SandboxError::io(
                "mount point is a dangling symlink",
                full,
                Errno::NOENT.into(),
                "make it a regular file or directory, or point it at an existing one",
            ));
        }
        let parent_times = rustix::fs::fstat(&parent).ok().map(|st| Timestamps {
            last_access: Timespec {
                tv_sec: st.st_atime,
                tv_nsec: st.st_atime_nsec as _,
            },
            last_modification: Timespec {
                tv_sec: st.st_mtime,
                tv_nsec: st.st_mtime_nsec as _,
            },
        });
        let created = if dir {
            rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755))
        } else {
            rustix::fs::openat(
                &parent,
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .map(drop)
        };
        created.map_err(|e| {
            SandboxError::io(
                "creating mount point",
                full,
                e.into(),
                "the root filesystem must be writable by root",
            )
        })?;
        self.0.push(Created {
            parent,
            name: cstring("path", name)?,
            dir,
            parent_times,
        });
        Ok(())
    }

    fn remove(&mut self) {
        for c in self.0.drain(..).rev() {
            let removed = if c.dir {
                // Fails (and stays) if the process put something in it.
                rustix::fs::unlinkat(&c.parent, c.name.as_c_str(), AtFlags::REMOVEDIR).is_ok()
            } else {
                match rustix::fs::statat(&c.parent, c.name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st)
                        if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
                            && st.st_size == 0 =>
                    {
                        rustix::fs::unlinkat(&c.parent, c.name.as_c_str(), AtFlags::empty()).is_ok()
                    }
                    _ => false,
                }
            };
            if let (true, Some(times)) = (removed, &c.parent_times) {
                let _ = rustix::fs::futimens(&c.parent, times);
            }
        }
    }
}

impl Drop for MountPoints {
    fn drop(&mut self) {
        self.remove();
    }
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
    if s.name.is_empty() || s.name == "." || s.name == ".." || s.name.contains('/') {
        return Err(SandboxError::Invalid(format!(
            "inline script name {:?} must be a single file name",
            s.name
        )));
    }
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

fn unique_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Copy a pipe into a writer until EOF; keep draining if the writer fails.
fn pump(
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
    program: &Path,
    pid: libc::pid_t,
    log: &Path,
) -> (Option<Slirp>, Option<SandboxError>) {
    if !unshared(unshared_r) {
        return (None, None);
    }
    match Slirp::start(program, slirp::Target::Pid(pid), log) {
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

fn read_all(fd: OwnedFd) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = File::from(fd).read_to_end(&mut v);
    v
}

/// What error messages name.
struct Names<'a> {
    etc: &'a [EtcBind],
    masked: &'a [CString],
    readonly: &'a [CString],
    cwd: &'a CString,
    rootfs: &'a CString,
    uid: u32,
    gid: u32,
    arg0: &'a str,
}

fn describe(fail: &Fail, plan: &Names<'_>) -> SandboxError {
    let i = fail.index as usize;
    let name = |v: &[CString]| {
        v.get(i)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let etc = || {
        plan.etc
            .get(i)
            .map(|e| format!("/{}", e.target.to_string_lossy()))
            .unwrap_or_default()
    };
    let (step, hint) = match fail.step {
        Step::Fds => (
            "setting up stdio and closing inherited fds".to_owned(),
            "this is a bug",
        ),
        Step::CgroupJoin => (
            "joining the cgroup (write to cgroup.procs)".to_owned(),
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
        Step::ForkInit => ("fork of the init process".to_owned(), "check pids limits"),
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
        Step::PivotRoot => (
            "pivot_root into the rootfs".to_owned(),
            "the rootfs must not be on a ramfs/rootfs mount",
        ),
        Step::DetachOldRoot => ("detaching the old root".to_owned(), "this is a bug"),
        Step::MountProc => (
            "mount proc on /proc".to_owned(),
            "/proc in the rootfs must be a directory",
        ),
        Step::MountDev => (
            "mount tmpfs on /dev".to_owned(),
            "/dev in the rootfs must be a directory",
        ),
        Step::DevNode => (
            format!("mknod {}", child::dev_node_name(fail.index)),
            "the sandbox needs CAP_MKNOD",
        ),
        Step::DevMount => (
            format!("mount {}", child::dev_mount_name(fail.index)),
            "check kernel support for devpts/mqueue",
        ),
        Step::DevLink => (
            format!("symlink {}", child::dev_link_name(fail.index)),
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
            format!("masking {}", name(plan.masked)),
            "check the masked path",
        ),
        Step::Readonly => (
            format!("read-only remount of {}", name(plan.readonly)),
            "check the read-only path",
        ),
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
        Step::ForkCommand => ("fork of the command".to_owned(), "check pids limits"),
        Step::ParentDeath => (
            "prctl(PR_SET_PDEATHSIG)".to_owned(),
            "kiln exited while starting the sandbox",
        ),
        Step::NetworkWait => (
            "waiting for user-mode networking (slirp4netns)".to_owned(),
            "kiln stopped before slirp4netns was ready; run the step again",
        ),
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

fn run(req: RunRequest<'_>) -> Result<Exit, SandboxError> {
    if !rustix::process::geteuid().is_root() {
        return Err(SandboxError::NotRoot);
    }
    let RunRequest {
        rootfs,
        process,
        confinement,
        hosts,
        resolv_conf,
        inline_script,
        shared_network,
        stdout,
        stderr,
    } = req;
    let shared_network = shared_network.filter(|_| SharedNetwork::suits(&confinement));

    // --- validate and prepare everything that allocates -----------------
    let Some(arg0) = process.args.first().cloned() else {
        return Err(SandboxError::Invalid(
            "process.args is empty; give at least the program".into(),
        ));
    };
    if !process.cwd.starts_with('/') {
        return Err(SandboxError::Invalid(format!(
            "cwd {:?} must be absolute",
            process.cwd
        )));
    }
    if process.hostname.len() > 64 || process.hostname.contains('\0') {
        return Err(SandboxError::Invalid(format!(
            "hostname {:?} must be at most 64 bytes without NUL",
            process.hostname
        )));
    }
    let argv = process
        .args
        .iter()
        .map(|a| cstring("argument", a))
        .collect::<Result<Vec<_>, _>>()?;
    let env = process
        .env
        .iter()
        .map(|e| cstring("environment entry", e))
        .collect::<Result<Vec<_>, _>>()?;
    let exec_paths = exec_candidates(&arg0, &process.env)?;
    let masked = confinement
        .masked_paths
        .iter()
        .map(|p| cstring("masked path", p))
        .collect::<Result<Vec<_>, _>>()?;
    let readonly = confinement
        .readonly_paths
        .iter()
        .map(|p| cstring("read-only path", p))
        .collect::<Result<Vec<_>, _>>()?;
    let cwd = cstring("cwd", &process.cwd)?;
    let inline_script = inline_script.map(prepare_inline_script).transpose()?;
    let caps_mask = caps::mask(&confinement.capabilities)?;
    let seccomp_programs = match &confinement.seccomp {
        SeccompPolicy::Unconfined => Vec::new(),
        SeccompPolicy::Default | SeccompPolicy::Profile(_) => {
            let json = match &confinement.seccomp {
                SeccompPolicy::Profile(j) => j.as_str(),
                _ => seccomp::DOCKER_DEFAULT_PROFILE,
            };
            let ctx = seccomp::Context {
                capabilities: &confinement.capabilities,
                kernel: seccomp::running_kernel(),
            };
            seccomp::compile_cached(json, &ctx)?
        }
    };

    // User-mode networking needs slirp4netns: fail before touching anything.
    let slirp_program = match confinement.network {
        NetworkMode::Private if shared_network.is_some() => None,
        NetworkMode::Private => {
            let path = std::env::var("PATH").ok();
            Some(slirp::find(path.as_deref())?)
        }
        NetworkMode::None | NetworkMode::Host => None,
    };
    // With slirp the resolver is slirp's DNS forwarder, not the host's.
    let resolv_conf = match confinement.network {
        NetworkMode::Private => slirp::GUEST_RESOLV_CONF.to_owned(),
        NetworkMode::None | NetworkMode::Host => resolv_conf,
    };

    let rootfs: PathBuf = rootfs.canonicalize().map_err(|e| {
        SandboxError::io("resolving rootfs", rootfs, e, "give an existing directory")
    })?;
    if rootfs == Path::new("/") {
        return Err(SandboxError::Invalid(
            "rootfs is the host's / : give the directory of the image's root filesystem".into(),
        ));
    }
    let rootfs_c = cstring("rootfs", &rootfs.to_string_lossy())?;
    let root_fd = rustix::fs::open(
        &rootfs,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        SandboxError::io(
            "opening rootfs",
            &rootfs,
            e.into(),
            "give an existing directory",
        )
    })?;

    // Mount points: created empty if missing, removed after the run.
    let mut mount_points = MountPoints::default();
    for d in ["proc", "dev", "sys"] {
        mount_points.ensure(&root_fd, &rootfs, d, true)?;
    }
    for f in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
        mount_points.ensure(&root_fd, &rootfs, f, false)?;
    }

    // Temp files bound over /etc/{hosts,resolv.conf,hostname}; never inside the rootfs.
    let tmp = temp_dir("kiln-sandbox-")?;
    let mut etc = Vec::new();
    for (name, content) in [
        ("hosts", hosts.as_str()),
        ("resolv.conf", resolv_conf.as_str()),
        ("hostname", &format!("{}\n", process.hostname)),
    ] {
        let path = tmp.path().join(name);
        std::fs::write(&path, content)
            .map_err(|e| SandboxError::io("writing", &path, e, "check TMPDIR"))?;
        etc.push(EtcBind {
            source: cstring("temp path", &path.to_string_lossy())?,
            target: cstring("path", &format!("etc/{name}"))?,
        });
    }

    let mut cgroups = Cgroups::create(&unique_id(), &confinement.limits)?;
    let cgroup_procs = std::mem::take(&mut cgroups.procs)
        .into_iter()
        .map(high)
        .collect::<Result<Vec<_>, _>>()?;

    let pipe = || -> Result<(OwnedFd, OwnedFd), SandboxError> {
        let (r, w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(os("pipe2"))?;
        Ok((high(r)?, high(w)?))
    };
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
    let (net_sync, net_parent) = if slirp_program.is_some() {
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

    let mut unshare_flags = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWCGROUP;
    let new_net = confinement.network != NetworkMode::Host && join_net.is_none();
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
        stdin,
        stdout_w,
        stderr_w,
        error_w,
        status_w,
        cgroup_procs,
        keep,
        unshare_flags,
        loopback: new_net,
        net_sync,
        join_net,
        rootfs: rootfs_c,
        etc,
        inline_script,
        masked,
        readonly,
        writable_sysfs: confinement.writable_sysfs,
        hostname: process.hostname.as_bytes().to_vec(),
        cwd,
        uid: process.uid,
        gid: process.gid,
        groups,
        caps: caps_mask,
        last_cap: last_cap(),
        no_new_privs: confinement.no_new_privs,
        seccomp: seccomp_programs,
        exec_paths,
        argv,
        env,
        argv_ptrs: Vec::new(),
        env_ptrs: Vec::new(),
    };
    plan.argv_ptrs = plan
        .argv
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null::<c_char>()])
        .collect();
    plan.env_ptrs = plan
        .env
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null::<c_char>()])
        .collect();

    // --- fork ------------------------------------------------------------
    let pid = match sys::fork().map_err(os("fork"))? {
        sys::Forked::Child => child::stage1(&plan),
        sys::Forked::Parent(pid) => pid,
    };

    // Parent: close the children's ends so EOFs arrive.
    drop(plan.stdin);
    drop(plan.stdout_w);
    drop(plan.stderr_w);
    drop(plan.error_w);
    drop(plan.status_w);
    drop(plan.cgroup_procs);
    drop(plan.net_sync);

    let slirp_log = tmp.path().join("slirp4netns.log");
    let names = Names {
        etc: &plan.etc,
        masked: &plan.masked,
        readonly: &plan.readonly,
        cwd: &plan.cwd,
        rootfs: &plan.rootfs,
        uid: plan.uid,
        gid: plan.gid,
        arg0: &arg0,
    };

    let (out_res, err_res, net, error_bytes, status_bytes, waited) = std::thread::scope(|s| {
        // The pumps run before the command can start, as without network.
        let out = s.spawn(move || pump(stdout_r, stdout, "stdout"));
        let err = s.spawn(move || pump(stderr_r, stderr, "stderr"));
        let net = match (net_parent, &slirp_program) {
            (Some((unshared_r, go_w)), Some(program)) => {
                start_network(unshared_r, go_w, program, pid, &slirp_log)
            }
            _ => (None, None),
        };
        let error_bytes = read_all(error_r);
        let status_bytes = read_all(status_r);
        let waited = loop {
            match rustix::process::waitpid(
                rustix::process::Pid::from_raw(pid),
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
        (
            join(out, "stdout"),
            join(err, "stderr"),
            net,
            error_bytes,
            status_bytes,
            waited,
        )
    });

    // The step is over: stop slirp4netns before anything else.
    let (slirp, net_error) = net;
    if let Some(mut s) = slirp {
        s.stop();
    }
    let cleanup = cgroups.remove();
    mount_points.remove();
    drop(tmp);

    if let Some(e) = net_error {
        return Err(e);
    }
    if error_bytes.len() >= FAIL_LEN {
        if let Some(fail) = Fail::decode(&error_bytes) {
            return Err(describe(&fail, &names));
        }
    }
    out_res?;
    err_res?;
    cleanup?;
    if status_bytes.len() >= STATUS_LEN {
        let kind = i32::from_ne_bytes([
            status_bytes[0],
            status_bytes[1],
            status_bytes[2],
            status_bytes[3],
        ]);
        let value = i32::from_ne_bytes([
            status_bytes[4],
            status_bytes[5],
            status_bytes[6],
            status_bytes[7],
        ]);
        return Ok(if kind == 1 {
            Exit {
                code: None,
                signal: Some(value),
            }
        } else {
            Exit {
                code: Some(value),
                signal: None,
            }
        });
    }
    // No report from init: it died itself (for example OOM-killed).
    match waited.map_err(os("waitpid"))? {
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
