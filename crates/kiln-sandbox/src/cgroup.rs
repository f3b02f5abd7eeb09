//! cgroup limits: v1 (one directory per controller, `…/<controller>/kiln/<id>`)
//! or v2 (`/sys/fs/cgroup/kiln/<id>`) when `cgroup.controllers` exists.

use std::fs;
use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Limits, SandboxError};

const ROOT: &str = "/sys/fs/cgroup";
const CFS_PERIOD: u64 = 100_000;

/// Created cgroup directories; removed on drop.
#[derive(Debug, Default)]
pub(crate) struct Cgroups {
    dirs: Vec<PathBuf>,
    /// The file of each directory the child writes "0" to, to join it: `tasks` in v1,
    /// `cgroup.procs` in v2 (see [`Cgroups::add`]).
    pub procs: Vec<OwnedFd>,
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
    /// Create the cgroups for `limits` (none if no limit is set).
    pub(crate) fn create(id: &str, limits: &Limits) -> Result<Self, SandboxError> {
        let mut cg = Cgroups::default();
        if limits.memory.is_none() && limits.pids.is_none() && limits.cpus.is_none() {
            return Ok(cg);
        }
        if let Some(c) = limits.cpus {
            if !(c.is_finite() && c > 0.0) {
                return Err(SandboxError::Invalid(format!(
                    "cpus must be a positive number, not {c}"
                )));
            }
        }
        let root = Path::new(ROOT);
        if root.join("cgroup.controllers").exists() {
            cg.create_v2(root, id, limits)?;
        } else {
            cg.create_v1(root, id, limits)?;
        }
        Ok(cg)
    }

    /// Make `dir` and open the file that moves a process into it. In v1 that is `tasks`:
    /// the child is single-threaded and writes "0" (itself), which the kernel moves without
    /// the global threadgroup lock that a `cgroup.procs` write takes (whose RCU grace
    /// period costs ~10 ms per step here); its later children follow it either way.
    fn add(&mut self, dir: PathBuf, join_file: &str) -> Result<(), SandboxError> {
        mkdir(&dir)?;
        self.dirs.push(dir.clone());
        let procs = dir.join(join_file);
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&procs)
            .map_err(|e| {
                SandboxError::io(
                    "opening",
                    procs,
                    e,
                    "check that the cgroup filesystem is writable",
                )
            })?;
        self.procs.push(f.into());
        Ok(())
    }

    fn create_v1(&mut self, root: &Path, id: &str, limits: &Limits) -> Result<(), SandboxError> {
        if let Some(mem) = limits.memory {
            let dir = root.join("memory/kiln").join(id);
            self.add(dir.clone(), "tasks")?;
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
            self.add(dir.clone(), "tasks")?;
            write(&dir.join("pids.max"), &pids.to_string())?;
        }
        if let Some(cpus) = limits.cpus {
            let dir = root.join("cpu/kiln").join(id);
            self.add(dir.clone(), "tasks")?;
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
        self.add(dir.clone(), "cgroup.procs")?;
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

    /// Remove the directories; waits briefly for exiting tasks to leave.
    pub(crate) fn remove(&mut self) -> Result<(), SandboxError> {
        self.procs.clear();
        let mut first_err = None;
        for dir in self.dirs.drain(..).rev() {
            let mut tries = 0;
            loop {
                match fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if tries < 200 && e.raw_os_error() == Some(libc::EBUSY) => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        first_err.get_or_insert(SandboxError::io(
                            "removing cgroup",
                            dir.clone(),
                            e,
                            "a process may still be running in it; kill it and remove the directory",
                        ));
                        break;
                    }
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}
