//! What the sandbox tests share: a busybox root filesystem, running a script in it, and
//! the slirp4netns bookkeeping of private-network runs. Each test binary uses a part.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kiln_sandbox::{
    Confinement, Embedded, Exit, NetworkMode, ProcessSpec, RunRequest, Sandbox, SandboxError,
};

pub const BUSYBOX_CANDIDATES: &[&str] = &["/bin/busybox", "/usr/bin/busybox"];
pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "id", "hostname", "ls", "mount", "sleep", "pwd", "env", "wc", "grep",
    "ip", "kill", "true", "false", "touch", "mkdir", "umount", "chroot", "unshare", "seq", "head",
    "tr", "printf", "test", "[", "ifconfig", "stat", "readlink", "ps", "rm", "nc", "nslookup",
    "wget", "timeout",
];

pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "these tests need root (they create namespaces, mounts and cgroups); run them as root"
    );
}

pub fn busybox() -> PathBuf {
    BUSYBOX_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no static busybox found; apt-get install busybox-static"))
}

/// One copy of busybox for the root filesystems of these tests, in cargo's temp dir for
/// integration tests (made once: copied under a temp name, then renamed into place).
pub fn private_busybox() -> &'static Path {
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join("busybox");
        if !path.is_file() {
            let tmp = dir.join(format!("busybox.{}.tmp", std::process::id()));
            std::fs::copy(busybox(), &tmp).expect("copy busybox");
            std::fs::rename(&tmp, &path).expect("rename busybox");
        }
        path
    })
}

/// A minimal busybox root filesystem: /bin/busybox plus applet symlinks,
/// /etc/passwd, /etc/group, /tmp, /mnt, /home/user. No /proc, /dev, /sys,
/// /etc/hosts, /etc/resolv.conf or /etc/hostname: the sandbox must cope.
pub struct Rootfs {
    dir: tempfile::TempDir,
}

impl Rootfs {
    pub fn new() -> Rootfs {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("kiln-rootfs-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path();
        for d in ["bin", "etc", "tmp", "mnt", "home/user", "root"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        // A hard link to one private copy made before any sandbox runs: a fresh copy's
        // write fd, inherited by a sandbox another test thread forks at that moment, would
        // make exec fail with ETXTBSY. (Never a link to the host's own binary.)
        let dest = root.join("bin/busybox");
        if std::fs::hard_link(private_busybox(), &dest).is_err() {
            std::fs::copy(busybox(), &dest).expect("copy busybox");
        }
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).expect("symlink");
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\nuser:x:1000:\nextra:x:2000:\n",
        )
        .expect("group");
        Rootfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

#[derive(Clone, Default)]
pub struct Buf(pub Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

pub struct Output {
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
}

pub fn spec(script: &str) -> ProcessSpec {
    ProcessSpec {
        args: vec!["sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/bin".into(), "HOME=/root".into()],
        cwd: "/".into(),
        uid: 0,
        gid: 0,
        additional_gids: vec![],
        hostname: "kiln-test".into(),
    }
}

pub fn try_run_with(
    rootfs: &Rootfs,
    process: ProcessSpec,
    confinement: Confinement,
) -> Result<Output, SandboxError> {
    let out = Buf::default();
    let err = Buf::default();
    let exit = Embedded.run(RunRequest {
        rootfs: rootfs.path(),
        process,
        confinement,
        hosts: "127.0.0.1\tlocalhost\n".into(),
        resolv_conf: "nameserver 192.0.2.53\n".into(),
        mounts: Vec::new(),
        inline_script: None,
        shared_network: None,
        stdout: Box::new(out.clone()),
        stderr: Box::new(err.clone()),
    })?;
    Ok(Output {
        exit,
        stdout: out.text(),
        stderr: err.text(),
    })
}

pub fn run_with(rootfs: &Rootfs, process: ProcessSpec, confinement: Confinement) -> Output {
    match try_run_with(rootfs, process, confinement) {
        Ok(o) => o,
        Err(e) => panic!("sandbox run failed: {e}"),
    }
}

pub fn sh(script: &str) -> Output {
    let rootfs = Rootfs::new();
    run_with(&rootfs, spec(script), Confinement::default())
}

pub fn ok(script: &str) -> String {
    let o = sh(script);
    assert_eq!(
        o.exit,
        Exit {
            code: Some(0),
            signal: None
        },
        "script {script:?} failed; stderr: {}",
        o.stderr
    );
    o.stdout
}

// --- NetworkMode::Private: slirp4netns -----------------------------------

/// Private-mode tests run one at a time, so "no slirp4netns child of this
/// process" means exactly "ours were stopped and reaped".
pub static SLIRP_LOCK: Mutex<()> = Mutex::new(());

pub fn slirp_lock() -> std::sync::MutexGuard<'static, ()> {
    SLIRP_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn private() -> Confinement {
    Confinement {
        network: NetworkMode::Private,
        ..Confinement::default()
    }
}

/// `(pid, state)` of every slirp4netns process whose parent is `parent`,
/// zombies included.
pub fn slirp_children_of(parent: u32) -> Vec<(u32, char)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid ...
            let (head, rest) = stat.rsplit_once(") ")?;
            let comm = head.split_once(" (")?.1;
            let mut f = rest.split_whitespace();
            let state = f.next()?.chars().next()?;
            let ppid: u32 = f.next()?.parse().ok()?;
            (comm == "slirp4netns" && ppid == parent).then_some((pid, state))
        })
        .collect()
}

pub fn assert_no_slirp_left(when: &str) {
    let left = slirp_children_of(std::process::id());
    assert!(left.is_empty(), "slirp4netns left behind {when}: {left:?}");
}

pub fn require_slirp4netns() {
    assert!(
        Path::new("/usr/bin/slirp4netns").exists(),
        "NetworkMode::Private tests need slirp4netns; apt-get install slirp4netns"
    );
}
