//! Shared helpers for the end-to-end tests: run the real `kiln` binary against a store of
//! the test's own, and make small base images without a registry.
//!
//! Base images are built from Debian's `busybox-static` (`/bin/busybox`); the rootfs
//! tarball is cached under `target/kiln-test-cache/` so each test only imports it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The kiln binary under test.
pub fn kiln_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kiln"))
}

/// A temporary directory with a store in it; removed at drop.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv {
            dir: tempfile::Builder::new()
                .prefix("kiln-test-")
                .tempdir()
                .expect("create a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.path().join("store")
    }

    /// A `kiln --root <store>` command with a clean environment.
    pub fn kiln(&self) -> Command {
        let mut c = Command::new(kiln_bin());
        c.arg("--root").arg(self.store());
        c.env_remove("KILN_ROOT").env_remove("SOURCE_DATE_EPOCH");
        c.stdin(Stdio::null());
        c
    }

    /// Run kiln with `args`; panic with its output unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kiln().args(args).output().expect("run kiln");
        assert!(
            out.status.success(),
            "kiln {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run kiln with `args` and return its output whatever the status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.kiln().args(args).output().expect("run kiln")
    }

    /// Import the busybox base image as `name` into this store.
    pub fn import_busybox(&self, name: &str) {
        let tar = busybox_tarball();
        self.ok(&["import", tar.to_str().expect("utf-8 path"), name]);
    }

    /// Write `files` (path, contents) under `dir` inside this env; returns the dir.
    pub fn context(&self, dir: &str, files: &[(&str, &str)]) -> PathBuf {
        let root = self.path().join(dir);
        for (p, content) in files {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(&f, content).expect("write");
        }
        std::fs::create_dir_all(&root).expect("mkdir context");
        root
    }
}

/// Where built test inputs are cached between test runs.
pub fn cache_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/kiln-test-cache");
    std::fs::create_dir_all(&dir).expect("create the test cache directory");
    dir
}

/// A tarball of a minimal root filesystem: `/bin/busybox` with links for the usual
/// commands, `/etc/passwd` and `/etc/group` with root and `app` (1000), `/tmp`.
pub fn busybox_tarball() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.is_file(),
            "/bin/busybox is missing: install Debian's busybox-static (scripts/deps.sh does)"
        );
        let out = cache_dir().join("busybox-rootfs.tar");
        if out.is_file() {
            return out;
        }
        let work = tempfile::tempdir_in(cache_dir()).expect("temp dir");
        let root = work.path().join("rootfs");
        for d in ["bin", "etc", "tmp", "root", "home/app"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
        for cmd in ["sh", "echo", "cat", "ls", "id", "stat", "true", "env", "sleep", "find", "sha256sum", "readlink", "wc"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(cmd)).expect("symlink");
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .expect("passwd");
        std::fs::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n")
            .expect("group");
        let tmp = out.with_extension("tmp");
        let status = Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&root)
            .arg("-cf")
            .arg(&tmp)
            .arg(".")
            .status()
            .expect("run tar");
        assert!(status.success(), "tar failed");
        std::fs::rename(&tmp, &out).expect("rename");
        out
    })
    .clone()
}
