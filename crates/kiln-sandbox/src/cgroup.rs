//! The cgroups of one step: limits, v1 (one directory per controller,
//! `…/<controller>/kiln/<id>`) or v2 (`<v2 root>/kiln/<id>`); and always the device
//! allow-list ([`crate::devices`]): the v1 `devices` controller and, wherever a v2
//! hierarchy is mounted (also the `unified` one of a hybrid layout), the device program
//! attached to the step's v2 cgroup. The kernel checks both.

use std::fs;
use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::{Limits, SandboxError};

const CFS_PERIOD: u64 = 100_000;

/// Where the cgroup hierarchies are: a parameter, so tests can point it elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupRoots {
    /// The v2 root (`cgroup.controllers` there) or the directory of the v1 controllers.
    pub root: PathBuf,
}

impl CgroupRoots {
    /// The host's, at `/sys/fs/cgroup`.
    pub(crate) fn host() -> Self {
        Self {
            root: PathBuf::from("/sys/fs/cgroup"),
        }
    }

    fn is_v2(&self) -> bool {
        self.root.join("cgroup.controllers").exists()
    }

    /// The v2 hierarchy: the root itself, or `unified` in a hybrid layout.
    fn v2(&self) -> Option<PathBuf> {
        if self.is_v2() {
            return Some(self.root.clone());
        }
        let unified = self.root.join("unified");
        unified.join("cgroup.procs").exists().then_some(unified)
    }
}

impl CgroupRoots {
    /// The `kiln` parents of every hierarchy a step's cgroup may be in.
    fn parents(&self) -> Vec<PathBuf> {
        let mut parents: Vec<PathBuf> = ["devices", "memory", "pids", "cpu"]
            .iter()
            .map(|c| self.root.join(c).join("kiln"))
            .collect();
        parents.extend(self.v2().map(|v2| v2.join("kiln")));
        parents
    }

    /// Remove the empty cgroups of kiln processes that died without cleaning up (killed
    /// mid-step): `<pid>-<n>` whose pid is gone. Non-empty ones stay (rmdir refuses).
    pub(crate) fn sweep_stale(&self) {
        for parent in self.parents() {
            let Ok(entries) = fs::read_dir(&parent) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name
                    .to_str()
                    .and_then(|n| n.split_once('-'))
                    .and_then(|(pid, _)| pid.parse::<i32>().ok())
                else {
                    continue;
                };
                let alive = rustix::process::Pid::from_raw(pid).is_some_and(|p| {
                    rustix::process::test_kill_process(p) != Err(rustix::io::Errno::SRCH)
                });
                if !alive {
                    let _ = fs::remove_dir(entry.path());
                }
            }
        }
    }
}

/// Created cgroup directories; removed on drop.
#[derive(Debug, Default)]
pub(crate) struct Cgroups {
    dirs: Vec<PathBuf>,
    /// `tasks` of each v1 directory, open for writing in the child.
    pub procs: Vec<OwnedFd>,
    /// The v2 directory, for `clone3(CLONE_INTO_CGROUP)`.
    pub clone_into: Option<OwnedFd>,
    /// Its path, for `cgroup.kill`.
    v2_dir: Option<PathBuf>,
}

fn write(path: &Path, value: &str) -> Result<(), SandboxError> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| {
            SandboxError::io(
                "writing cgroup file",
                path,
                e,
                "check that the cgroup controller is mounted and writable",
            )
        })
}

fn mkdir(path: &Path) -> Result<(), SandboxError> {
    fs::create_dir_all(path).map_err(|e| {
        SandboxError::io(
            "creating cgroup",
            path,
            e,
            "check that /sys/fs/cgroup is mounted read-write and the controller is enabled",
        )
    })
}

impl Cgroups {
    /// Create the cgroups of step `id`: the device allow-list always, `limits` if set.
    pub(crate) fn create(
        roots: &CgroupRoots,
        id: &str,
        limits: &Limits,
    ) -> Result<Self, SandboxError> {
        if let Some(c) = limits.cpus {
            if !(c.is_finite() && c > 0.0) {
                return Err(SandboxError::Invalid(format!(
                    "cpus must be a positive number, not {c}"
                )));
            }
        }
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| roots.sweep_stale());
        let mut cg = Cgroups::default();
        let has_limits = limits.memory.is_some() || limits.pids.is_some() || limits.cpus.is_some();
        if roots.is_v2() {
            cg.create_v2(&roots.root, id, limits)?;
        } else {
            if has_limits {
                cg.create_v1(&roots.root, id, limits)?;
            }
            cg.create_v1_devices(&roots.root, id)?;
            if let Some(unified) = roots.v2() {
                cg.create_v2(&unified, id, &Limits::default())?;
            }
        }
        Ok(cg)
    }

    /// `devices/kiln/<id>`: deny everything, then allow the standard nodes.
    fn create_v1_devices(&mut self, root: &Path, id: &str) -> Result<(), SandboxError> {
        let dir = root.join("devices/kiln").join(id);
        self.add_v1(dir.clone())?;
        write(&dir.join("devices.deny"), "a")?;
        let allow = dir.join("devices.allow");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(&allow)
            .map_err(|e| {
                SandboxError::io(
                    "opening",
                    &allow,
                    e,
                    "the cgroup v1 devices controller must be mounted read-write",
                )
            })?;
        // One rule per write: the kernel parses each write as one rule.
        for line in crate::devices::v1_allow_lines() {
            f.write_all(line.as_bytes()).map_err(|e| {
                SandboxError::io(
                    "writing a device rule to",
                    &allow,
                    e,
                    "the cgroup v1 devices controller must be mounted read-write",
                )
            })?;
        }
        Ok(())
    }

    /// Attach the device program to the v2 cgroup `dir` (open as `fd`).
    fn attach_device_program(dir: &Path, fd: &OwnedFd) -> Result<(), SandboxError> {
        let prog = crate::devices::loaded_program().map_err(|e| {
            SandboxError::io(
                "loading the cgroup device program (bpf) for",
                dir,
                e,
                "the kernel needs CONFIG_CGROUP_BPF and kiln CAP_SYS_ADMIN",
            )
        })?;
        crate::bpf::attach(
            fd,
            prog,
            crate::bpf::ATTACH_CGROUP_DEVICE,
            crate::bpf::F_ALLOW_MULTI,
        )
        .map_err(|e| {
            SandboxError::io(
                "attaching the device program (bpf) to cgroup",
                dir,
                e,
                "the kernel needs CONFIG_CGROUP_BPF and kiln CAP_SYS_ADMIN",
            )
        })
    }

    /// A v1 cgroup, joined by writing "0" to its `tasks` file: that moves only the calling
    /// thread (stage1 has no other), without the global threadgroup lock whose RCU grace
    /// period made a `cgroup.procs` write cost milliseconds.
    fn add_v1(&mut self, dir: PathBuf) -> Result<(), SandboxError> {
        mkdir(&dir)?;
        self.dirs.push(dir.clone());
        let tasks = dir.join("tasks");
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&tasks)
            .map_err(|e| {
                SandboxError::io(
                    "opening",
                    tasks,
                    e,
                    "check that the cgroup filesystem is writable",
                )
            })?;
        self.procs.push(f.into());
        Ok(())
    }

    /// The v2 cgroup: stage1 is forked straight into it (`clone3(CLONE_INTO_CGROUP)`).
    fn add_v2(&mut self, dir: PathBuf) -> Result<(), SandboxError> {
        mkdir(&dir)?;
        self.dirs.push(dir.clone());
        let fd = rustix::fs::open(
            &dir,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| {
            SandboxError::io(
                "opening cgroup",
                &dir,
                e.into(),
                "check the cgroup v2 mount",
            )
        })?;
        self.clone_into = Some(fd);
        self.v2_dir = Some(dir);
        Ok(())
    }

    /// SIGKILL every process in the step's v2 cgroup at once (`cgroup.kill`, Linux 5.14),
    /// also one being forked right now: what a kill through pids could miss. Best effort:
    /// the caller has already killed the step's pid 1 or stage1.
    pub(crate) fn kill_all(&self) {
        if let Some(dir) = &self.v2_dir {
            kill_processes_in(dir);
        }
    }

    fn create_v1(&mut self, root: &Path, id: &str, limits: &Limits) -> Result<(), SandboxError> {
        if let Some(mem) = limits.memory {
            let dir = root.join("memory/kiln").join(id);
            self.add_v1(dir.clone())?;
            write(&dir.join("memory.limit_in_bytes"), &mem.to_string())?;
            // Without swap accounting this file does not exist; then memory
            // is the only limit.
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                write(&memsw, &mem.to_string())?;
            }
        }
        if let Some(pids) = limits.pids {
            let dir = root.join("pids/kiln").join(id);
            self.add_v1(dir.clone())?;
            write(&dir.join("pids.max"), &pids.to_string())?;
        }
        if let Some(cpus) = limits.cpus {
            let dir = root.join("cpu/kiln").join(id);
            self.add_v1(dir.clone())?;
            write(&dir.join("cpu.cfs_period_us"), &CFS_PERIOD.to_string())?;
            let quota = ((cpus * CFS_PERIOD as f64) as u64).max(1000);
            write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
        }
        Ok(())
    }

    fn create_v2(&mut self, root: &Path, id: &str, limits: &Limits) -> Result<(), SandboxError> {
        let mut wanted = Vec::new();
        if limits.memory.is_some() {
            wanted.push("+memory");
        }
        if limits.pids.is_some() {
            wanted.push("+pids");
        }
        if limits.cpus.is_some() {
            wanted.push("+cpu");
        }
        let parent = root.join("kiln");
        mkdir(&parent)?;
        for dir in [root, parent.as_path()] {
            for c in &wanted {
                write(&dir.join("cgroup.subtree_control"), c)?;
            }
        }
        let dir = parent.join(id);
        self.add_v2(dir.clone())?;
        if let Some(fd) = &self.clone_into {
            Self::attach_device_program(&dir, fd)?;
        }
        if let Some(mem) = limits.memory {
            write(&dir.join("memory.max"), &mem.to_string())?;
            let swap = dir.join("memory.swap.max");
            if swap.exists() {
                write(&swap, "0")?;
            }
        }
        if let Some(pids) = limits.pids {
            write(&dir.join("pids.max"), &pids.to_string())?;
        }
        if let Some(cpus) = limits.cpus {
            let quota = ((cpus * CFS_PERIOD as f64) as u64).max(1000);
            write(&dir.join("cpu.max"), &format!("{quota} {CFS_PERIOD}"))?;
        }
        Ok(())
    }

    /// Remove the directories. Call it once every task of the step is reaped (the
    /// step's pid 1 leaves only after the rest of its pid namespace, and stage1 after
    /// it). The kernel may still count a task that was just reaped for a moment (seen
    /// under load: EBUSY right after the last task left), so a busy directory is tried
    /// again for up to about 1.3 s, as runc does.
    pub(crate) fn remove(&mut self) -> Result<(), SandboxError> {
        self.procs.clear();
        self.clone_into = None;
        self.v2_dir = None;
        let mut first_err = None;
        for dir in self.dirs.drain(..).rev() {
            match remove_when_empty(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_err.get_or_insert(SandboxError::io(
                        "removing cgroup",
                        dir.clone(),
                        e,
                        "a process may still be running in it; kill it and remove the directory",
                    ));
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// SIGKILL to every process in the v2 cgroup `dir` (`cgroup.kill`, Linux 5.14). Best
/// effort: a v1 directory or an older kernel has no such file, and nothing is created.
fn kill_processes_in(dir: &Path) {
    let kill = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.kill"));
    let _ = kill.and_then(|mut f| f.write_all(b"1"));
}

/// `rmdir` of a step's cgroup, tried again while the kernel reports it busy: 8 tries,
/// 5 ms apart at first, doubling (1.3 s in all). A v2 directory that still has
/// processes is told to kill them (`cgroup.kill`) before each new try.
fn remove_when_empty(dir: &Path) -> std::io::Result<()> {
    let mut delay = std::time::Duration::from_millis(5);
    for _ in 0..7 {
        match fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                kill_processes_in(dir);
                std::thread::sleep(delay);
                delay *= 2;
            }
            other => return other,
        }
    }
    fs::remove_dir(dir)
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

#[cfg(test)]
mod tests {
    //! Each device barrier alone, on this host's cgroups: a shell that joins the cgroup
    //! then opens a device (`/dev` of the host: only the cgroup stands in the way).
    use super::*;

    fn root() -> bool {
        let root = rustix::process::geteuid().is_root();
        if !root {
            eprintln!("skipped: cgroup device tests need root");
        }
        root
    }

    /// Whether a shell in the cgroup `dir` (none: where the test runs) opens `device`.
    fn opens(dir: Option<&Path>, device: &str) -> bool {
        let join = dir
            .map(|d| format!("echo $$ > {}/cgroup.procs && ", d.display()))
            .unwrap_or_default();
        std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{join}exec 3<>{device}"))
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn id(what: &str) -> String {
        format!("test-{}-{what}", std::process::id())
    }

    #[test]
    fn v1_devices_controller_alone_refuses_a_host_device() {
        let roots = CgroupRoots::host();
        if !root() || roots.is_v2() || !roots.root.join("devices").is_dir() {
            return;
        }
        // Control: here, and in a v1 devices cgroup without rules, root opens it.
        assert!(opens(None, "/dev/loop-control"), "control: root opens it");
        let mut plain = Cgroups::default();
        let plain_dir = roots.root.join("devices/kiln").join(id("v1-plain"));
        plain.add_v1(plain_dir.clone()).expect("plain cgroup");
        assert!(
            opens(Some(&plain_dir), "/dev/loop-control"),
            "control: no rules"
        );

        let mut cg = Cgroups::default();
        cg.create_v1_devices(&roots.root, &id("v1"))
            .expect("devices cgroup");
        let dir = cg.dirs[0].clone();
        assert!(!opens(Some(&dir), "/dev/loop-control"));
        assert!(!opens(Some(&dir), "/dev/kmsg"));
        assert!(opens(Some(&dir), "/dev/null"), "the standard nodes open");
        assert!(opens(Some(&dir), "/dev/urandom"), "the standard nodes open");
        cg.remove().expect("remove");
        plain.remove().expect("remove");
    }

    #[test]
    fn v2_device_program_alone_refuses_a_host_device() {
        let Some(unified) = CgroupRoots::host().v2() else {
            return;
        };
        if !root() {
            return;
        }
        // Control: a v2 cgroup without the program lets root open it.
        let mut plain = Cgroups::default();
        let plain_dir = unified.join("kiln").join(id("v2-plain"));
        plain.add_v2(plain_dir.clone()).expect("plain cgroup");
        assert!(opens(Some(&plain_dir), "/dev/loop-control"), "control");

        let mut cg = Cgroups::default();
        cg.create_v2(&unified, &id("v2"), &Limits::default())
            .expect("v2 cgroup with the device program");
        let dir = cg.dirs[0].clone();
        assert!(!opens(Some(&dir), "/dev/loop-control"));
        assert!(!opens(Some(&dir), "/dev/kmsg"));
        assert!(opens(Some(&dir), "/dev/null"), "the standard nodes open");
        assert!(opens(Some(&dir), "/dev/zero"), "the standard nodes open");
        cg.remove().expect("remove");
        plain.remove().expect("remove");
    }

    #[test]
    fn a_busy_v2_cgroup_is_emptied_and_removed() {
        let Some(unified) = CgroupRoots::host().v2() else {
            return;
        };
        if !root() {
            return;
        }
        let dir = unified.join("kiln").join(id("busy"));
        mkdir(&dir).expect("mkdir");
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!(
                "echo $$ > {}/cgroup.procs && exec sleep 600",
                dir.display()
            ))
            .spawn()
            .expect("sh");
        let procs = dir.join("cgroup.procs");
        while fs::read_to_string(&procs)
            .unwrap_or_default()
            .trim()
            .is_empty()
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Control: a plain rmdir of a cgroup with a process in it is refused.
        let busy = fs::remove_dir(&dir).expect_err("busy");
        assert_eq!(busy.raw_os_error(), Some(libc::EBUSY));
        let reaper = std::thread::spawn(move || child.wait());
        remove_when_empty(&dir).expect("emptied, then removed");
        assert!(!dir.exists());
        assert!(!reaper.join().expect("join").expect("wait").success());
    }

    #[test]
    fn cgroups_of_dead_kiln_processes_are_swept() {
        let roots = CgroupRoots::host();
        if !root() || !roots.root.join("devices").is_dir() {
            return;
        }
        // pid 999999999 never exists (pid_max is at most 2^22); our own pid does.
        let dead = roots.root.join("devices/kiln/999999999-0");
        let live = roots
            .root
            .join("devices/kiln")
            .join(format!("{}-sweep", std::process::id()));
        for d in [&dead, &live] {
            mkdir(d).expect("mkdir");
        }
        roots.sweep_stale();
        assert!(!dead.exists(), "the dead process's cgroup is removed");
        assert!(live.exists(), "a live process's cgroup stays");
        fs::remove_dir(&live).expect("rmdir");
    }

    #[test]
    fn roots_are_parameters() {
        let dir = tempfile::tempdir().expect("temp dir");
        let roots = CgroupRoots {
            root: dir.path().to_path_buf(),
        };
        assert!(!roots.is_v2());
        assert_eq!(roots.v2(), None);
        std::fs::write(dir.path().join("cgroup.controllers"), "").expect("write");
        assert_eq!(roots.v2(), Some(dir.path().to_path_buf()));
    }
}
