//! A cgroup v2 directory with the policy's programs attached: slirp4netns (or QEMU) joins it
//! between fork and exec, so every connection it makes and every ICMP packet it sends for
//! a step goes through them. The step
//! cannot reach it: the programs are in the host's cgroup tree, outside every namespace
//! the step holds.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, OFlags};

use super::icmp;
use super::program::{generate, Hook, BPF_PROG_TYPE_CGROUP_SOCK_ADDR};
use super::{NetPolicyError, NetworkPolicy};
use crate::bpf;

/// Where the mounts of this process are listed.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// The mount point of the first cgroup v2 hierarchy in a mountinfo file.
pub fn find_v2_mount(mountinfo: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(mountinfo).ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace()
            .nth(4)
            .map(|p| PathBuf::from(unescape(p)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(o) if b[i] == b'\\' => {
                out.push(o.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The policy's cgroup; removed on drop (once its processes are gone).
#[derive(Debug)]
pub struct PolicyCgroup {
    dir: PathBuf,
    /// `cgroup.procs`, open for writing: a child writes `0` to it to join.
    procs: OwnedFd,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A program of the policy and where it goes.
struct Program {
    kind: u32,
    hook: u32,
    name: &'static str,
    flags: u32,
}

/// Load `insns` as `program` and attach it to the cgroup `dir_fd` (at `dir`).
fn load_and_attach(
    dir_fd: &OwnedFd,
    dir: &Path,
    insns: &[bpf::Insn],
    program: Program,
) -> Result<(), NetPolicyError> {
    let prog = bpf::load(program.kind, program.hook, insns, program.name).map_err(|e| {
        NetPolicyError::Load {
            program: program.name,
            source: e.source,
            log: e.log,
        }
    })?;
    // The attachment holds the program; its fd may close.
    bpf::attach(dir_fd, &prog, program.hook, program.flags).map_err(|source| {
        NetPolicyError::Attach {
            program: program.name,
            path: dir.to_path_buf(),
            source,
        }
    })
}

impl PolicyCgroup {
    /// Make a new cgroup under the v2 hierarchy listed in `mountinfo` and attach the
    /// programs of `policy` to it.
    pub fn create(
        policy: &NetworkPolicy,
        mountinfo: &Path,
    ) -> Result<PolicyCgroup, NetPolicyError> {
        let root = find_v2_mount(mountinfo).ok_or_else(|| NetPolicyError::NoCgroup2 {
            mountinfo: mountinfo.to_path_buf(),
        })?;
        remove_stale(&root, Path::new("/proc"));
        let dir = root.join(format!(
            "kiln-net-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let cg_err = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |e: std::io::Error| NetPolicyError::Cgroup {
                op,
                path,
                source: e,
            }
        };
        std::fs::create_dir(&dir).map_err(cg_err("creating", &dir))?;
        let open = |path: &Path, flags: OFlags| {
            rustix::fs::open(path, flags | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| cg_err("opening", path)(e.into()))
        };
        let procs = match open(&dir.join("cgroup.procs"), OFlags::WRONLY) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(e);
            }
        };
        // From here on, dropping `cgroup` (also on an error below) removes the directory.
        let cgroup = PolicyCgroup {
            dir: dir.clone(),
            procs,
        };
        let dir_fd = open(&dir, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let attach = |insns: Option<Vec<bpf::Insn>>, program: Program| {
            let insns = insns.ok_or(NetPolicyError::TooManyRules {
                rules: policy.rules.len(),
            })?;
            load_and_attach(&dir_fd, &dir, &insns, program)
        };
        for hook in Hook::ALL {
            let program = Program {
                kind: BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
                hook: hook as u32,
                name: hook.name(),
                flags: 0,
            };
            attach(generate(policy, hook), program)?;
        }
        for (v6, name) in [(false, "kiln_icmp4"), (true, "kiln_icmp6")] {
            let program = Program {
                kind: icmp::BPF_PROG_TYPE_CGROUP_SKB,
                hook: icmp::ATTACH_EGRESS,
                name,
                // The two share the egress hook; a packet passes only if both pass it.
                flags: bpf::F_ALLOW_MULTI,
            };
            attach(icmp::generate(policy, v6), program)?;
        }
        Ok(cgroup)
    }

    /// `cgroup.procs`, open for writing (write `0` from a child to move it here).
    pub fn procs(&self) -> &OwnedFd {
        &self.procs
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Remove the policy cgroups of kiln processes that are gone (killed before they could
/// clean up): `kiln-net-PID-N` under `root` with no `proc/PID`. A cgroup that still has
/// processes is not removable and stays.
fn remove_stale(root: &Path, proc: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("kiln-net-"))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !proc.join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

impl Drop for PolicyCgroup {
    fn drop(&mut self) {
        // The last process left when it was reaped; the kernel may still be releasing it.
        for _ in 0..50 {
            match std::fs::remove_dir(&self.dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(2))
                }
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v2_mount_of_a_hybrid_layout() {
        let dir = tempfile::tempdir().expect("temp dir");
        let info = dir.path().join("mountinfo");
        std::fs::write(
            &info,
            "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
             31 30 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             41 30 0:38 / /sys/fs/cgroup/un\\040ified rw,relatime - cgroup2 cgroup2 rw\n",
        )
        .expect("write");
        assert_eq!(
            find_v2_mount(&info),
            Some(PathBuf::from("/sys/fs/cgroup/un ified"))
        );
        std::fs::write(
            &info,
            "31 30 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw\n",
        )
        .expect("write");
        assert_eq!(find_v2_mount(&info), None);
    }

    #[test]
    fn stale_policy_cgroups_of_dead_processes_are_removed() {
        let root = tempfile::tempdir().expect("temp dir");
        let proc = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(proc.path().join("42")).expect("mkdir");
        for d in [
            "kiln-net-42-0",
            "kiln-net-43-1",
            "kiln-net-x-1",
            "other-43-1",
        ] {
            std::fs::create_dir(root.path().join(d)).expect("mkdir");
        }
        std::fs::write(root.path().join("kiln-net-44-0"), "").expect("a file");
        remove_stale(root.path(), proc.path());
        let mut left: Vec<String> = std::fs::read_dir(root.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "kiln-net-42-0",
                "kiln-net-44-0",
                "kiln-net-x-1",
                "other-43-1"
            ]
        );
    }

    #[test]
    fn no_v2_hierarchy_is_an_error_naming_the_way_out() {
        let dir = tempfile::tempdir().expect("temp dir");
        let info = dir.path().join("mountinfo");
        std::fs::write(&info, "").expect("write");
        let policy = NetworkPolicy::new(&[], vec![], &[]);
        let msg = PolicyCgroup::create(&policy, &info)
            .expect_err("no cgroup2")
            .to_string();
        assert!(msg.contains("no cgroup v2 hierarchy"), "{msg}");
        assert!(msg.contains("--network none"), "{msg}");
    }
}
