//! User-mode networking for [`crate::NetworkMode::Private`] with slirp4netns,
//! as rootless podman/buildah do it.
//!
//! The parent starts `slirp4netns --configure --mtu=65520
//! --disable-host-loopback [--enable-seccomp] --ready-fd=R --exit-fd=E <pid>
//! tap0` once the sandbox's network namespace exists (`<pid>` is stage1,
//! which unshared it), waits until slirp4netns writes to the ready fd (then
//! `tap0` is up with 10.0.2.100/24 and a default route via 10.0.2.2; DNS is
//! forwarded at 10.0.2.3) and stops it when the step ends by closing the exit
//! fd. If kiln dies, the exit fd closes with it; the helper also gets SIGKILL
//! through `PR_SET_PDEATHSIG`.
//!
//! The kernel sends the parent-death signal when the *thread* that forked exits,
//! not the process: slirp4netns is therefore spawned from one thread that lives
//! as long as the process ([`spawn_from_lasting_thread`]), never from a build
//! stage's thread (a shared network outlives the stage that started it).
//!
//! slirp4netns joins a cgroup v2 directory of its own before it execs, with the
//! network policy's BPF programs attached ([`crate::netpolicy`]): every
//! connection it makes for the step is checked there, outside the step.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::pipe::PipeFlags;

use crate::netpolicy::{NetworkPolicy, PolicyCgroup, MOUNTINFO};
use crate::{sys, SandboxError};

/// The program's name, looked up in `PATH`.
pub(crate) const PROGRAM: &str = "slirp4netns";
/// Where Debian's package installs it (used when `PATH` does not have it).
const FALLBACK: &str = "/usr/bin/slirp4netns";
/// The guest side of slirp's default network.
pub(crate) const GUEST_RESOLV_CONF: &str = "nameserver 10.0.2.3\n";
/// How long slirp4netns may take to configure the interface.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long slirp4netns may take to leave after its exit fd closed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

const INSTALL_HINT: &str =
    "install it (apt-get install slirp4netns), or run the step without network (NetworkMode::None)";

fn error(what: String, hint: &'static str) -> SandboxError {
    SandboxError::Network { what, hint }
}

/// The slirp4netns executable: the first in `path` (a `PATH` value), else
/// Debian's location.
pub(crate) fn find(path: Option<&str>) -> Result<PathBuf, SandboxError> {
    find_in(path, Path::new(FALLBACK))
}

fn find_in(path: Option<&str>, fallback: &Path) -> Result<PathBuf, SandboxError> {
    let is_exec = |p: &Path| {
        rustix::fs::access(p, rustix::fs::Access::EXEC_OK).is_ok()
            && p.metadata().is_ok_and(|m| m.is_file())
    };
    path.unwrap_or_default()
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join(PROGRAM))
        .chain([fallback.to_path_buf()])
        .find(|p| is_exec(p))
        .ok_or_else(|| {
            error(
                format!(
                    "{PROGRAM} not found in PATH or at {}; NetworkMode::Private needs it",
                    fallback.display()
                ),
                INSTALL_HINT,
            )
        })
}

/// Whether this slirp4netns was built with libseccomp (`--version` names
/// it), so `--enable-seccomp` works. Asked once per process.
fn supports_seccomp(program: &Path) -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        Command::new(program)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| {
                o.status.success()
                    && String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .any(|l| l.starts_with("libseccomp:"))
            })
    })
}

/// A running slirp4netns; stopped and reaped on drop.
/// The network namespace slirp4netns serves.
pub(crate) enum Target<'a> {
    /// The namespace of this process.
    Pid(i32),
    /// A namespace file (`/proc/PID/fd/N`, `/run/netns/NAME`).
    NamespacePath(&'a Path),
}

pub(crate) struct Slirp {
    child: Option<Child>,
    /// Closing it tells slirp4netns to exit.
    exit_w: Option<OwnedFd>,
    /// Removed after slirp4netns is reaped (fields drop after [`Slirp::drop`]).
    _cgroup: PolicyCgroup,
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawn `cmd` from a thread that lives as long as the process, so that
/// `PR_SET_PDEATHSIG` fires only when kiln itself goes away.
pub(crate) fn spawn_from_lasting_thread(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let spawned = std::thread::Builder::new()
            .name("kiln-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            });
        if let Err(e) = spawned {
            // Every request then fails with "the spawner thread is gone" below.
            eprintln!("kiln: cannot start the helper-spawning thread: {e}");
        }
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let gone = || io::Error::other("kiln's helper-spawning thread is gone");
    spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| gone())?;
    reply_rx.recv().map_err(|_| gone())?
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let (r, w) =
        rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(|e| SandboxError::Syscall {
            op: "pipe2",
            source: e.into(),
        })?;
    Ok((crate::embedded::high(r)?, crate::embedded::high(w)?))
}

/// The end of slirp4netns's log, for error messages.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() {
        "no output".to_owned()
    } else {
        format!("its output: {tail}")
    }
}

impl Slirp {
    /// Start slirp4netns for the network namespace of `pid` and wait until
    /// `tap0` is configured. Its output goes to `log`.
    /// Every connection it makes goes through `policy`: there is no unfiltered private
    /// network.
    pub(crate) fn start(
        program: &Path,
        target: Target<'_>,
        log: &Path,
        policy: &NetworkPolicy,
    ) -> Result<Slirp, SandboxError> {
        let cgroup = PolicyCgroup::create(policy, Path::new(MOUNTINFO))?;
        let (ready_r, ready_w) = pipe()?;
        let (exit_r, exit_w) = pipe()?;
        let out =
            File::create(log).map_err(|e| SandboxError::io("creating", log, e, "check TMPDIR"))?;
        let err = out
            .try_clone()
            .map_err(|e| SandboxError::io("duplicating fd of", log, e, "check fd limits"))?;
        let mut cmd = Command::new(program);
        cmd.args(["--configure", "--mtu=65520", "--disable-host-loopback"]);
        if supports_seccomp(program) {
            cmd.arg("--enable-seccomp");
        }
        cmd.arg(format!("--ready-fd={}", ready_w.as_raw_fd()))
            .arg(format!("--exit-fd={}", exit_r.as_raw_fd()));
        match target {
            Target::Pid(pid) => cmd.arg(pid.to_string()),
            Target::NamespacePath(path) => cmd.arg("--netns-type=path").arg(path),
        };
        cmd.arg("tap0").stdin(Stdio::null()).stdout(out).stderr(err);
        sys::inherit_fds_and_die_with_parent(
            &mut cmd,
            [ready_w.as_raw_fd(), exit_r.as_raw_fd()],
            Some(cgroup.procs().as_raw_fd()),
        );
        let child = spawn_from_lasting_thread(cmd)
            .map_err(|e| error(format!("starting {}: {e}", program.display()), INSTALL_HINT))?;
        // Only slirp4netns holds these now: EOF on ready_r means it exited.
        drop(ready_w);
        drop(exit_r);
        let mut slirp = Slirp {
            child: Some(child),
            exit_w: Some(exit_w),
            _cgroup: cgroup,
        };
        match wait_ready(ready_r) {
            Ok(()) => Ok(slirp),
            Err(why) => {
                let status = slirp.stop();
                let status = status.map_or_else(String::new, |s| format!(" ({s})"));
                Err(error(
                    format!(
                        "{} for the sandbox's network namespace {why}{status}; {}",
                        program.display(),
                        log_tail(log)
                    ),
                    "slirp4netns needs root and /dev/net/tun on the host; its output above says what failed",
                ))
            }
        }
    }

    /// Stop slirp4netns (exit fd, then SIGKILL after [`EXIT_TIMEOUT`]) and
    /// reap it. Returns how it ended, if it was still to be reaped.
    pub(crate) fn stop(&mut self) -> Option<std::process::ExitStatus> {
        drop(self.exit_w.take());
        let mut child = self.child.take()?;
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => break,
            }
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Slirp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Wait for slirp4netns's readiness byte. `Err` says what went wrong.
fn wait_ready(ready_r: OwnedFd) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "did not report ready within {} s",
                READY_TIMEOUT.as_secs()
            ));
        }
        let timeout = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(&ready_r, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => break,
            Err(e) => return Err(format!("could not be waited for (poll: {e})")),
        }
    }
    let mut byte = [0u8; 1];
    match File::from(ready_r).read(&mut byte) {
        Ok(1) => Ok(()),
        Ok(_) => Err("exited before the network was ready".to_owned()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            Err("was interrupted while starting".to_owned())
        }
        Err(e) => Err(format!("could not be read from (ready fd: {e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_program_says_how_to_install_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_string_lossy().into_owned();
        let msg = find_in(Some(&path), &dir.path().join("nowhere"))
            .expect_err("no slirp4netns there")
            .to_string();
        assert!(msg.contains("slirp4netns not found in PATH"), "{msg}");
        assert!(msg.contains("apt-get install slirp4netns"), "{msg}");
    }

    /// Tests that write and run a fake program hold it: a fork in another
    /// thread while the script is open for writing would make exec fail
    /// with ETXTBSY.
    static SPAWN: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn spawn_lock() -> std::sync::MutexGuard<'static, ()> {
        SPAWN.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fixed rules only (the fake programs connect nowhere).
    fn no_rules() -> NetworkPolicy {
        NetworkPolicy::new(&[], vec![], &[])
    }

    fn fake_program(dir: &Path, script: &str) -> PathBuf {
        let fake = dir.join(PROGRAM);
        std::fs::write(&fake, format!("#!/bin/bash\n{script}\n")).expect("write");
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        fake
    }

    #[test]
    fn slirp4netns_failing_before_ready_is_an_error_with_its_output() {
        let _lock = spawn_lock();
        let dir = tempfile::tempdir().expect("temp dir");
        let fake = fake_program(dir.path(), "echo 'cannot open /dev/net/tun' >&2; exit 3");
        let log = dir.path().join("log");
        let err = Slirp::start(&fake, Target::Pid(1), &log, &no_rules())
            .err()
            .expect("a failing slirp4netns is an error")
            .to_string();
        assert!(err.starts_with("user-mode networking: "), "{err}");
        assert!(err.contains("exited before the network was ready"), "{err}");
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.contains("cannot open /dev/net/tun"), "{err}");
    }

    #[test]
    fn slirp4netns_gets_the_options_and_is_stopped_through_its_exit_fd() {
        let _lock = spawn_lock();
        let dir = tempfile::tempdir().expect("temp dir");
        let args = dir.path().join("args");
        // Report ready on the ready fd, then wait for the exit fd to close.
        let fake = fake_program(
            dir.path(),
            &format!(
                "echo \"$@\" > {}\n\
                 for a; do case $a in --ready-fd=*) r=${{a#*=}};; --exit-fd=*) e=${{a#*=}};; esac; done\n\
                 echo 1 >&$r\n\
                 cat <&$e >/dev/null\n\
                 exit 7",
                args.display()
            ),
        );
        let mut slirp = Slirp::start(
            &fake,
            Target::Pid(4242),
            &dir.path().join("log"),
            &no_rules(),
        )
        .expect("started");
        let seen = std::fs::read_to_string(&args).expect("args");
        assert!(
            seen.starts_with("--configure --mtu=65520 --disable-host-loopback "),
            "{seen}"
        );
        assert!(seen.trim_end().ends_with(" 4242 tap0"), "{seen}");
        let status = slirp.stop().expect("reaped");
        assert_eq!(status.code(), Some(7), "stopped by its exit fd, not killed");
        assert!(slirp.stop().is_none());
    }

    #[test]
    fn program_is_found_in_path_first() {
        let _lock = spawn_lock();
        let dir = tempfile::tempdir().expect("temp dir");
        let fake = fake_program(dir.path(), "");
        let path = format!("relative:{}", dir.path().display());
        assert_eq!(
            find_in(Some(&path), Path::new("/nowhere")).expect("found"),
            fake
        );
    }
}
