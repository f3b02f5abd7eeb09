//! The external backend: any OCI runtime CLI (runc, crun, runsc, youki...)
//! driven with a bundle whose config.json carries the same confinement as the
//! embedded runtime ([`crate::oci_config`]); rootfs = the step's snapshot.
//!
//! One run: a private tmpfs holds the bundle, the runtime's state (`--root`)
//! and the /etc files (the config can hold secrets in the environment);
//! mount points are made in the rootfs and removed after, as for the
//! embedded runtime; the network namespace is made by kiln ([`NetNs`], with
//! slirp4netns for the private network) and joined by path; then
//! `RUNTIME [FLAGS] --root STATE run --bundle DIR ID` runs in the foreground
//! with its output captured, and `delete --force ID` always follows.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::control::{self, Ended};
use crate::embedded::{pump, unique_id};
use crate::netns::NetNs;
use crate::oci_config::{self, ConfigInput, NetNamespace};
use crate::preflight::CheckedRequest;
use crate::run_setup;
use crate::{Exit, NetworkMode, RunControl, RunRequest, Sandbox, SandboxError, TmpfsDir};

/// Runtimes `kiln info` looks for.
pub const KNOWN_RUNTIMES: &[&str] = &["runc", "crun", "runsc", "youki", "kata-runtime"];

/// Directories searched besides `PATH` (runc is in /usr/sbin on Debian).
const EXTRA_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// A runtime found on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    pub name: String,
    pub path: PathBuf,
    /// First line of `--version`.
    pub version: String,
}

fn is_exec(p: &Path) -> bool {
    rustix::fs::access(p, rustix::fs::Access::EXEC_OK).is_ok()
        && p.metadata().is_ok_and(|m| m.is_file())
}

/// The runtime's executable: a path (with a `/`) as given, a name looked up
/// in `PATH` and the usual system directories.
pub fn find_runtime(name_or_path: &str) -> Result<PathBuf, SandboxError> {
    if name_or_path.contains('/') {
        let p = PathBuf::from(name_or_path);
        return if is_exec(&p) {
            Ok(p)
        } else {
            Err(SandboxError::Invalid(format!(
                "OCI runtime {name_or_path} is not an executable file; give the path of runc, crun, runsc or another OCI runtime"
            )))
        };
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .chain(EXTRA_DIRS.iter().copied())
        .map(|d| Path::new(d).join(name_or_path))
        .find(|p| is_exec(p))
        .ok_or_else(|| {
            SandboxError::Invalid(format!(
                "OCI runtime {name_or_path:?} not found in PATH or {}; install it (apt-get install {name_or_path}) or give its path",
                EXTRA_DIRS.join(", ")
            ))
        })
}

/// Name, path and version of a runtime executable.
pub fn runtime_info(path: &Path) -> RuntimeInfo {
    let version = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown (--version failed)".into());
    RuntimeInfo {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.to_path_buf(),
        version,
    }
}

/// The known runtimes installed here.
pub fn list_runtimes() -> Vec<RuntimeInfo> {
    KNOWN_RUNTIMES
        .iter()
        .filter_map(|n| find_runtime(n).ok())
        .map(|p| runtime_info(&p))
        .collect()
}

/// An OCI runtime CLI and the global flags it gets (`--runtime-flag`).
#[derive(Debug, Clone)]
pub struct ExternalRuntime {
    pub path: PathBuf,
    pub flags: Vec<String>,
}

impl ExternalRuntime {
    /// The runtime `name_or_path` (see [`find_runtime`]).
    pub fn new(name_or_path: &str, flags: Vec<String>) -> Result<Self, SandboxError> {
        Ok(Self {
            path: find_runtime(name_or_path)?,
            flags,
        })
    }

    fn command(&self, state: &Path) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.args(self.implied_flags())
            .args(&self.flags)
            .arg("--root")
            .arg(state);
        cmd
    }

    fn is_runsc(&self) -> bool {
        self.path.file_name().is_some_and(|n| n == "runsc")
    }

    /// Flags runsc needs for kiln's confinement (a flag given with
    /// `--runtime-flag` wins):
    /// - `--network=host`: gVisor's own network stack (`--network=sandbox`)
    ///   refuses to start here (Debian's 2022 runsc takes the namespace for
    ///   the host's); "host" means the namespace the sandbox runs in, the one
    ///   kiln made (with slirp4netns for the private network).
    /// - `--oci-seccomp`: apply the config's seccomp profile inside the
    ///   sandbox too (runsc ignores it otherwise).
    fn implied_flags(&self) -> Vec<&'static str> {
        if !self.is_runsc() {
            return Vec::new();
        }
        let given = |name: &str| {
            self.flags
                .iter()
                .any(|f| f.trim_start_matches('-').starts_with(name))
        };
        let mut flags = Vec::new();
        if !given("network") {
            flags.push("--network=host");
        }
        if !given("oci-seccomp") {
            flags.push("--oci-seccomp");
        }
        flags
    }
}

impl Sandbox for ExternalRuntime {
    fn run_controlled(
        &self,
        req: RunRequest<'_>,
        control: &RunControl,
    ) -> Result<Exit, SandboxError> {
        run(self, req, control)
    }
}

/// Whether this host has a hybrid cgroup layout whose v2 side has
/// controllers (crun refuses those; see [`crate::sys::runtime_child_setup`]).
fn hybrid_with_v2_controllers() -> bool {
    std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .is_ok_and(|s| !s.trim().is_empty())
}

/// End the run now: the runtime kills the container's processes (`kill ID KILL`; its init
/// is pid 1 of its pid namespace, so every process in it dies), and the runtime's own
/// process is killed too. `delete --force` follows, as after every run.
fn kill_container(rt: &ExternalRuntime, state: &Path, id: &str, child: &mut std::process::Child) {
    let _ = rt
        .command(state)
        .args(["kill", id, "KILL"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    // Also before the output is drained: a container the kill missed (still being
    // created) would hold its output pipes open.
    let _ = rt
        .command(state)
        .args(["delete", "--force", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// One run: check, write the bundle, run the runtime in the foreground, clean up.
fn run(
    rt: &ExternalRuntime,
    req: RunRequest<'_>,
    control: &RunControl,
) -> Result<Exit, SandboxError> {
    let started = std::time::Instant::now();
    let mut req = crate::preflight::check_request(req)?;
    let root_fd = run_setup::open_rootfs(&req.rootfs)?;
    absolute_mount_sources(&mut req.request.mounts)?;

    let tmp = TmpfsDir::new("kiln-runtime-")?;
    let bundle = tmp.path().join("bundle");
    let state = tmp.path().join("state");
    for d in [&bundle, &state] {
        std::fs::create_dir(d).map_err(|e| SandboxError::io("creating", d, e, "check TMPDIR"))?;
    }
    let etc: Vec<(String, PathBuf)> = run_setup::write_etc_files(tmp.path(), &req)?
        .into_iter()
        .map(|(name, path)| (format!("/etc/{name}"), path))
        .collect();
    if let Some(script) = req.request.inline_script.take() {
        let mount = inline_script_mount(script, tmp.path())?;
        req.request.mounts.push(mount);
    }

    // Mount points the runtime would otherwise create (and leave) in the rootfs.
    let targets = req
        .request
        .mounts
        .iter()
        .map(|m| {
            Ok((
                crate::embedded::relative_target(&m.target)?,
                m.kind.is_dir(),
            ))
        })
        .collect::<Result<Vec<_>, SandboxError>>()?;
    let mount_points = run_setup::mount_points(&root_fd, &req.rootfs, targets)?;

    let (netns, netns_path) = match (req.request.confinement.network, req.request.shared_network) {
        (NetworkMode::Host, _) => (None, None),
        (NetworkMode::Private, Some(shared)) => (None, Some(shared.path())),
        (NetworkMode::None | NetworkMode::Private, _) => {
            let ns = NetNs::create(
                req.private_net.as_ref(),
                &tmp.path().join("slirp4netns.log"),
            )?;
            let path = ns.path();
            (Some(ns), Some(path))
        }
    };
    let id = format!("kiln-{}", unique_id());
    write_config(rt, &req, &etc, netns_path, &id, &bundle)?;

    let mut ended = Ended::Exited;
    let output = (req.request.stdout, req.request.stderr);
    let result = run_runtime(
        rt,
        &Bundle {
            tmp: tmp.path(),
            bundle: &bundle,
            state: &state,
            id: &id,
            rootfs: &req.rootfs,
        },
        output,
        control,
        started,
        &mut ended,
    );
    // Always remove the container, also when the run failed.
    let _ = rt
        .command(&state)
        .args(["delete", "--force", &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    drop(netns);
    drop(mount_points);
    drop(tmp);
    if let Some(e) = ended.error() {
        return Err(e);
    }
    let status = result?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => Exit {
            code: Some(c),
            signal: None,
        },
        (None, s) => Exit {
            code: None,
            signal: s,
        },
    })
}

/// Runtimes resolve relative sources from their own working directory: make them absolute
/// (every target is checked on the way).
fn absolute_mount_sources(mounts: &mut [crate::Mount]) -> Result<(), SandboxError> {
    for m in mounts {
        crate::embedded::relative_target(&m.target)?;
        if let crate::MountKind::Bind { source, .. } = &mut m.kind {
            *source = std::path::absolute(&*source).map_err(|e| {
                SandboxError::io(
                    "resolving mount source",
                    source.clone(),
                    e,
                    "give an absolute path",
                )
            })?;
        }
    }
    Ok(())
}

/// The heredoc script: a read-only file at /dev/pipes/NAME, as the embedded runtime; the
/// file is written in `dir`, the mount to add is returned.
fn inline_script_mount(
    script: crate::InlineScript,
    dir: &Path,
) -> Result<crate::Mount, SandboxError> {
    run_setup::check_inline_script_name(&script.name)?;
    let path = dir.join("inline-script");
    run_setup::write_file(&path, &script.data)?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| SandboxError::io("setting the mode of", &path, e, "check TMPDIR"))?;
    Ok(crate::Mount {
        target: format!("{}/{}", crate::INLINE_SCRIPT_DIR, script.name),
        kind: crate::MountKind::Bind {
            source: path,
            readonly: true,
        },
    })
}

/// The bundle's config.json: kiln's confinement in OCI form.
fn write_config(
    rt: &ExternalRuntime,
    req: &CheckedRequest<'_>,
    etc: &[(String, PathBuf)],
    netns_path: Option<String>,
    id: &str,
    bundle: &Path,
) -> Result<(), SandboxError> {
    let rootfs = &req.rootfs;
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let spec = oci_config::build(&ConfigInput {
        rootfs,
        process: &req.request.process,
        confinement: &req.request.confinement,
        etc,
        mounts: &req.request.mounts,
        network: match netns_path {
            Some(path) => NetNamespace::Path(path),
            None => NetNamespace::Host,
        },
        cgroups_path: Some(format!("/kiln/{id}")),
        nofile: (
            nofile.current.unwrap_or(1024),
            nofile.maximum.unwrap_or(1024 * 1024),
        ),
        tmp_bind: (rt.is_runsc()
            && std::fs::symlink_metadata(rootfs.join("tmp")).is_ok_and(|m| m.is_dir()))
        .then(|| rootfs.join("tmp")),
    })?;
    let config = serde_json::to_vec_pretty(&spec)
        .map_err(|e| SandboxError::Invalid(format!("OCI runtime config: {e}")))?;
    run_setup::write_file(&bundle.join("config.json"), &config)
}

/// Where one run's files are.
struct Bundle<'a> {
    /// The private tmpfs, the runtime's working directory.
    tmp: &'a Path,
    bundle: &'a Path,
    /// The runtime's `--root`.
    state: &'a Path,
    id: &'a str,
    rootfs: &'a Path,
}

type Output = (
    Box<dyn std::io::Write + Send>,
    Box<dyn std::io::Write + Send>,
);

/// `RUNTIME run --bundle DIR ID` in the foreground, its output pumped, killed when the run
/// is ended early (`ended` says how it ended).
fn run_runtime(
    rt: &ExternalRuntime,
    b: &Bundle<'_>,
    (stdout, stderr): Output,
    control: &RunControl,
    started: std::time::Instant,
    ended: &mut Ended,
) -> Result<std::process::ExitStatus, SandboxError> {
    let mut cmd = rt.command(b.state);
    cmd.arg("run")
        .arg("--bundle")
        .arg(b.bundle)
        .arg(b.id)
        .current_dir(b.tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::sys::runtime_child_setup(
        &mut cmd,
        hybrid_with_v2_controllers(),
        crate::embedded::cstring("rootfs", &b.rootfs.to_string_lossy())?,
    );
    let mut child = cmd.spawn().map_err(|e| {
        SandboxError::io(
            "starting the OCI runtime",
            &rt.path,
            e,
            "check that it is an OCI runtime CLI (runc, crun, runsc)",
        )
    })?;
    let out = child.stdout.take().map(OwnedFd::from);
    let err = child.stderr.take().map(OwnedFd::from);
    // Without a pidfd (kernels before 5.3) the run cannot be ended early.
    let watched = control::pidfd(child.id() as i32).ok();
    let (o, e) = std::thread::scope(|s| {
        let o = out.map(|fd| s.spawn(move || pump(fd, stdout, "stdout")));
        let e = err.map(|fd| s.spawn(move || pump(fd, stderr, "stderr")));
        *ended = watched.as_ref().map_or(Ended::Exited, |fd| {
            control::watch(fd.as_fd(), control, started)
        });
        if *ended != Ended::Exited {
            kill_container(rt, b.state, b.id, &mut child);
        }
        let join = |h: Option<std::thread::ScopedJoinHandle<'_, _>>| {
            h.map_or(Ok(()), |h| {
                h.join().unwrap_or_else(|_| {
                    Err(SandboxError::Output {
                        stream: "stdout",
                        source: std::io::Error::other("output thread panicked"),
                    })
                })
            })
        };
        (join(o), join(e))
    });
    let status = child.wait().map_err(|e| {
        SandboxError::io(
            "waiting for",
            &rt.path,
            e,
            "the runtime could not be waited for",
        )
    });
    o.and(e).and(status)
}
