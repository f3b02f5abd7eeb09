//! Shared helpers for the end-to-end tests: run the real `kiln` binary against a store of
//! the test's own, and make small base images without a registry.
//!
//! Base images are built from Debian's `busybox-static` (`/bin/busybox`); the rootfs
//! tarball is cached under `target/kiln-test-cache/` so each test only imports it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// Flags podman and buildah need to run containers on this kind of host: runc (crun 1.8
/// refuses the cgroup v1/v2 hybrid layout), no network, and rlimits they may set without
/// CAP_SYS_RESOURCE (the hard RLIMIT_NOFILE is 20000).
pub const OCI_RUN_FLAGS: [&str; 8] = [
    "--runtime",
    "runc",
    "--network",
    "none",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

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

/// podman with its storage, run dir, temp dir and config all under `dir` (vfs storage,
/// cgroupfs): the host's podman state is never touched.
pub fn podman(bin: &Path, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.arg("--root")
        .arg(dir.join("podman"))
        .arg("--runroot")
        .arg(dir.join("podman-run"))
        .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
        .arg("--tmpdir")
        .arg(dir.join("podman-tmp"))
        .env("XDG_CONFIG_HOME", dir.join("podman-config"))
        .env("XDG_DATA_HOME", dir.join("podman-data"))
        .stdin(std::process::Stdio::null());
    c
}

/// A tarball of a minimal Debian 12 root filesystem (`debootstrap --variant=minbase
/// bookworm`), made once and cached. The mirror is `$KILN_TEST_DEBIAN_MIRROR`, else
/// deb.debian.org.
pub fn debian_tarball() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let out = cache_dir().join("debian-bookworm-minbase.tar");
        if out.is_file() {
            return out;
        }
        let debootstrap = tool("debootstrap", "debootstrap");
        let mirror = std::env::var("KILN_TEST_DEBIAN_MIRROR")
            .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
        let work = tempfile::tempdir_in(cache_dir()).expect("temp dir");
        let root = work.path().join("rootfs");
        run_ok(
            Command::new(debootstrap)
                .args(["--variant=minbase", "bookworm"])
                .arg(&root)
                .arg(&mirror),
        );
        let tmp = work.path().join("rootfs.tar");
        run_ok(
            Command::new("tar")
                .args(["--numeric-owner", "--xattrs", "-C"])
                .arg(&root)
                .arg("-cf")
                .arg(&tmp)
                .arg("."),
        );
        std::fs::rename(&tmp, &out).expect("rename");
        out
    })
    .clone()
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

// ---------------------------------------------------------------------------------------
// Output checks.

/// Standard output and error of a finished command, for messages.
pub fn show(out: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Assert `out` exited with `code` and its standard error contains every phrase.
pub fn assert_fails(out: &Output, code: i32, phrases: &[&str]) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "wrong exit code\n{}",
        show(out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    for p in phrases {
        assert!(err.contains(p), "stderr lacks {p:?}\n{}", show(out));
    }
}

/// Run `cmd`; panic with its output unless it succeeds. Returns standard output.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed\n{}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The path of a reference tool; fails the test (never skips) when it is missing.
pub fn tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed: apt-get install {package} (scripts/deps.sh installs every reference tool)");
}

/// A `&Path` as `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

// ---------------------------------------------------------------------------------------
// Snapshots: prove that nothing outside the store and the outputs was written.

/// What a file system entry looked like: kind, mode, size, mtime, and the target of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub kind: &'static str,
    pub mode: u32,
    pub size: u64,
    pub mtime: (i64, i64),
    pub nlink: u64,
    pub link: Option<PathBuf>,
}

/// Every entry under `dir` (itself included, symlinks not followed), skipping the
/// paths in `skip` (and the mtimes of the directories above them).
pub fn snapshot(dir: &Path, skip: &[&Path]) -> std::collections::BTreeMap<PathBuf, Seen> {
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        if skip.iter().any(|s| p == *s) {
            continue;
        }
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else {
            "special"
        };
        out.insert(
            p.clone(),
            Seen {
                kind,
                mode: m.mode(),
                size: if ft.is_dir() { 0 } else { m.size() },
                // A directory holding the store or an output changes as they are made.
                mtime: if ft.is_dir() && skip.iter().any(|s| s.starts_with(&p)) {
                    (0, 0)
                } else {
                    (m.mtime(), m.mtime_nsec())
                },
                nlink: if ft.is_dir() { 0 } else { m.nlink() },
                link: std::fs::read_link(&p).ok(),
            },
        );
        if ft.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir") {
                stack.push(e.expect("dir entry").path());
            }
        }
    }
    out
}

/// Assert two snapshots are equal, listing what changed.
pub fn assert_unchanged(
    what: &str,
    before: &std::collections::BTreeMap<PathBuf, Seen>,
    after: &std::collections::BTreeMap<PathBuf, Seen>,
) {
    let mut diffs = Vec::new();
    for (p, b) in before {
        match after.get(p) {
            None => diffs.push(format!("removed {}", p.display())),
            Some(a) if a != b => diffs.push(format!("changed {}: {b:?} -> {a:?}", p.display())),
            _ => {}
        }
    }
    for p in after.keys() {
        if !before.contains_key(p) {
            diffs.push(format!("created {}", p.display()));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what} was written:\n{}",
        diffs.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Hand-made tar archives, hostile ones included (no library would write most of these).

/// One tar member.
#[derive(Debug, Clone)]
pub struct TarEntry {
    pub name: String,
    /// `b'0'` file, `b'1'` hard link, `b'2'` symlink, `b'3'` char, `b'4'` block,
    /// `b'5'` directory, `b'6'` fifo.
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub link: String,
    pub data: Vec<u8>,
    pub dev: (u32, u32),
    pub mtime: u64,
}

impl TarEntry {
    fn new(name: &str, typeflag: u8, mode: u32) -> TarEntry {
        TarEntry {
            name: name.into(),
            typeflag,
            mode,
            uid: 0,
            gid: 0,
            link: String::new(),
            data: Vec::new(),
            dev: (0, 0),
            mtime: 1_000_000_000,
        }
    }
    pub fn file(name: &str, data: &str) -> TarEntry {
        TarEntry {
            data: data.as_bytes().to_vec(),
            ..TarEntry::new(name, b'0', 0o644)
        }
    }
    pub fn dir(name: &str) -> TarEntry {
        TarEntry::new(name, b'5', 0o755)
    }
    pub fn symlink(name: &str, target: &str) -> TarEntry {
        TarEntry {
            link: target.into(),
            ..TarEntry::new(name, b'2', 0o777)
        }
    }
    pub fn hardlink(name: &str, target: &str) -> TarEntry {
        TarEntry {
            link: target.into(),
            ..TarEntry::new(name, b'1', 0o644)
        }
    }
    pub fn device(name: &str, typeflag: u8, major: u32, minor: u32) -> TarEntry {
        TarEntry {
            dev: (major, minor),
            ..TarEntry::new(name, typeflag, 0o600)
        }
    }
    pub fn fifo(name: &str) -> TarEntry {
        TarEntry::new(name, b'6', 0o644)
    }
    pub fn owned(mut self, uid: u32, gid: u32) -> TarEntry {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mode(mut self, mode: u32) -> TarEntry {
        self.mode = mode;
        self
    }
}

fn octal(field: &mut [u8], value: u64) {
    let s = format!("{value:0width$o}", width = field.len() - 1);
    assert!(s.len() < field.len(), "tar field overflow");
    field[..s.len()].copy_from_slice(s.as_bytes());
    field[s.len()] = 0;
}

/// A PAX extended header carrying `path` and `linkpath` when they do not fit ustar fields.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    loop {
        let n = format!("{len}{body}").len();
        if n == len {
            break;
        }
        len = n;
    }
    format!("{len}{body}").into_bytes()
}

/// One ustar header block for `e` with the given name, type, declared size and link.
pub fn header(name: &[u8], e: &TarEntry, typeflag: u8, size: u64, link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], u64::from(e.mode));
    octal(&mut h[108..116], u64::from(e.uid));
    octal(&mut h[116..124], u64::from(e.gid));
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], e.mtime);
    h[156] = typeflag;
    h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], u64::from(e.dev.0));
    octal(&mut h[337..345], u64::from(e.dev.1));
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

fn pad(out: &mut Vec<u8>) {
    while out.len() % 512 != 0 {
        out.push(0);
    }
}

/// A tar archive of `entries`, written exactly as given (names are not cleaned).
pub fn tar_bytes(entries: &[TarEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        if e.name.len() > 100 || e.link.len() > 100 {
            let mut pax = pax_record("path", &e.name);
            if !e.link.is_empty() {
                pax.extend(pax_record("linkpath", &e.link));
            }
            out.extend_from_slice(&header(b"PaxHeader", e, b'x', pax.len() as u64, b""));
            out.extend_from_slice(&pax);
            pad(&mut out);
        }
        out.extend_from_slice(&header(
            e.name.as_bytes(),
            e,
            e.typeflag,
            e.data.len() as u64,
            e.link.as_bytes(),
        ));
        out.extend_from_slice(&e.data);
        pad(&mut out);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Write a tar of `entries` to `path`.
pub fn write_tar(path: &Path, entries: &[TarEntry]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, tar_bytes(entries)).expect("write tar");
}

/// `tar -tvf` listing of an archive (GNU tar), one member a line.
pub fn tar_listing(path: &Path) -> String {
    run_ok(
        Command::new("tar")
            .arg("--numeric-owner")
            .arg("-tvf")
            .arg(path),
    )
}

impl TestEnv {
    /// Run kiln with `args` and extra environment variables; return its output.
    pub fn run_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = self.kiln();
        c.args(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().expect("run kiln")
    }

    /// Run kiln with `input` on standard input.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut c = self.kiln();
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn kiln");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            // kiln may stop reading early when it refuses the input.
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait for kiln");
        writer.join().expect("stdin writer");
        out
    }

    /// `kiln inspect NAME` as JSON (the first image).
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["inspect", name])).expect("inspect JSON");
        v[0].clone()
    }

    /// Export `name`'s root filesystem to a fresh directory under this env; returns it.
    pub fn export(&self, name: &str, dir: &str) -> PathBuf {
        let out = self.path().join(dir);
        self.ok(&["export", name, "-o", s(&out)]);
        out
    }

    /// A directory inside this env holding a file `secret` with known content: the
    /// target hostile inputs aim at.
    pub fn sentinel(&self) -> PathBuf {
        let d = self.path().join("sentinel");
        std::fs::create_dir_all(&d).expect("mkdir sentinel");
        std::fs::write(d.join("secret"), "sentinel\n").expect("write sentinel");
        d
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Write a docker-archive (`docker save` format) named `repo_tag` holding uncompressed
/// `layers` (bottom first) and a linux config for the host's architecture.
pub fn write_docker_archive(path: &Path, repo_tag: &str, layers: &[Vec<u8>]) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).expect("json");
    let config_name = format!("{}.json", sha256_hex(&config));
    let layer_names: Vec<String> = layers
        .iter()
        .map(|l| format!("{}/layer.tar", sha256_hex(l)))
        .collect();
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [repo_tag],
        "Layers": layer_names,
    }]);
    let mut entries = vec![
        TarEntry::file("manifest.json", ""),
        TarEntry::file(&config_name, ""),
    ];
    entries[0].data = serde_json::to_vec(&manifest).expect("json");
    entries[1].data = config;
    for (name, l) in layer_names.iter().zip(layers) {
        let mut e = TarEntry::file(name, "");
        e.data = l.clone();
        entries.push(e);
    }
    write_tar(path, &entries);
}

/// Run `cmd`, killing it and failing the test if it takes longer than `secs` (a hang
/// means something blocked, e.g. a fifo or a device was opened).
pub fn output_within(cmd: &mut Command, secs: u64) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed().as_secs() >= secs {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} did not finish in {secs}s (blocked?)\n{}",
                show(&out)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Run `cmd` with `input` on standard input; panic unless it succeeds. Returns stdout.
pub fn run_ok_bytes(cmd: &mut Command, input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    assert!(out.status.success(), "{cmd:?} failed\n{}", show(&out));
    out.stdout
}
pub mod fault_proxy;
pub mod registry;

/// Status of each step in plain progress output: (`[stage i/n] INSTRUCTION`, `CACHED` or
/// `DONE`), in step order.
pub fn statuses(stderr: &str) -> Vec<(String, String)> {
    let mut names: Vec<(u32, String)> = Vec::new();
    let mut out: Vec<(u32, String, String)> = Vec::new();
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((n, tail)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else { continue };
        if tail.starts_with('[') {
            names.push((n, tail.to_string()));
        } else if tail == "CACHED" || tail.starts_with("DONE ") || tail.starts_with("ERROR") {
            let name = names
                .iter()
                .find(|(m, _)| *m == n)
                .map(|(_, t)| t.clone())
                .unwrap_or_else(|| panic!("#{n} ended before it started:\n{stderr}"));
            let status = tail
                .split(' ')
                .next()
                .unwrap_or_default()
                .trim_end_matches(':')
                .to_string();
            out.push((n, name, status));
        }
    }
    out.sort_by_key(|(n, _, _)| *n);
    out.into_iter().map(|(_, a, b)| (a, b)).collect()
}

/// Every file under `dir` whose bytes (gunzipped when gzip) contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir").flatten() {
                stack.push(e.path());
            }
            continue;
        }
        if !m.is_file() {
            continue;
        }
        let mut bytes = std::fs::read(&p).unwrap_or_default();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let out = Command::new("gzip")
                .arg("-dc")
                .arg(&p)
                .output()
                .expect("gzip");
            bytes.extend_from_slice(&out.stdout);
        }
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(p);
        }
    }
    hits
}

impl TestEnv {
    /// The QEMU processes of this env's store (`--isolation vm`: their kernel and
    /// initramfs are under it), one line each.
    pub fn qemus(&self) -> String {
        let found = Command::new("pgrep")
            .args(["-af", &self.store().join("vm").display().to_string()])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&found.stdout).into_owned()
    }

    /// Wait (up to a minute) until a QEMU of this env's store runs.
    pub fn wait_for_qemu(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.qemus().is_empty() {
            assert!(std::time::Instant::now() < deadline, "no QEMU seen");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
