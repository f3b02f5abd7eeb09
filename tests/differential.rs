//! Differential test against buildah: every case under `tests/differential/<case>/` is built
//! by kiln and by `buildah bud` (1.28, docker format, isolated vfs storage) from the same
//! busybox base image, and the results must agree:
//!
//! - the root filesystem: every path with its type, mode (with setuid/setgid/sticky), owner,
//!   size, link target, content hash, xattrs, hard-link group and, for non-directories, mtime
//!   (except where both tools give a time after the test started: a file a RUN step made or
//!   changed gets the build's time);
//! - the config: Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels,
//!   StopSignal, Healthcheck, OnBuild, Shell and the author (MAINTAINER).
//!
//! Every difference must be listed in [`DIFFERENCES`] with the reason (buildah is not
//! `docker build`); a listed difference that no longer shows up fails the test too.
//!
//! Features buildah 1.28 cannot build (heredocs, `--parents`, `--exclude`, `--link`, symbolic
//! `--chmod`, `ADD --checksum`) have a hand-written `expected` file instead: what
//! `docker build` (BuildKit) gives, checked against kiln's result in the same test.
//!
//! A case directory holds the `Dockerfile` and the context files, and optionally:
//! - `args`: extra build arguments for both tools, whitespace separated (`--build-arg K=V`,
//!   `--target NAME`); `{url}` stands for the test's HTTP server;
//! - `setup`: what git cannot hold, made in the copied context before the build (see
//!   [`setup`]): symlinks, hard links, modes, xattrs, tar archives, empty directories;
//! - `parent.Dockerfile`: built first as `<case>-parent` by both tools (ONBUILD);
//! - `expected`: hand-written expectations (see [`check_expected`]); buildah is not run;
//! - `fails`: both builds must fail (a failing RUN); kiln's error must contain the file's
//!   text; nothing else is compared;
//! - `check`: lines in the same format for a case compared with buildah, checked against
//!   kiln's image as well (that a feature really shows: xattrs present, links kept), for
//!   the listed paths only.
//!
//! The reference tools run only on storage inside the test's temporary directory. buildah
//! runs RUN steps with runc and `--network none` (kiln's steps see only `lo`).
//!
//! `KILN_DIFF_CASE=NAME` (or `PREFIX*`) runs only those cases.

mod support;

use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::TestEnv;

/// A difference between kiln and buildah where buildah is not what `docker build` does.
struct Listed {
    case: &'static str,
    /// The difference as the comparison names it: `PATH FIELD` or `config.FIELD`.
    key: &'static str,
    reason: &'static str,
}

impl Listed {
    /// `case` `*` is every case; a `*` in `key` stands for any text.
    fn matches(&self, case: &str, key: &str) -> bool {
        let case_matches = match self.case.strip_suffix('*') {
            Some(prefix) => case.starts_with(prefix),
            None => self.case == case,
        };
        if !case_matches {
            return false;
        }
        match self.key.split_once('*') {
            Some((pre, post)) => {
                key.len() >= pre.len() + post.len() && key.starts_with(pre) && key.ends_with(post)
            }
            None => self.key == key,
        }
    }
}

/// Every accepted difference, with the reason kiln is right (BuildKit is the reference).
const DIFFERENCES: &[Listed] = &[
    Listed {
        case: "*",
        key: "/ mode",
        reason: "the root of a buildah vfs container is made by containers/storage (0555) and \
                 ignores the layers' `./` entry; the image's root is the base layer's (0755)",
    },
    Listed {
        case: "copy-file",
        key: "/fraction.txt mtime",
        reason: "a context mtime of x.7 s: buildah's layer tar (Go archive/tar without PAX) \
                 rounds it up; BuildKit's (containerd's archive) truncates to whole seconds, \
                 as kiln does",
    },
    Listed {
        case: "chmod",
        key: "/newparent mode",
        reason: "BuildKit creates missing parent directories with the octal --chmod mode \
                 (fsutil copy.MkdirAll with CopyInfo.Mode, moby/buildkit#5943); buildah uses 0755",
    },
    Listed {
        case: "chmod",
        key: "/chdir mode",
        reason: "BuildKit creates the destination of a directory copy with the octal --chmod \
                 mode (fsutil prepareTargetDir); buildah uses 0755",
    },
    Listed {
        case: "add-archives",
        key: "/owned/src* owner",
        reason: "ADD --chown of a local archive: BuildKit extracts with ChownOpts (every entry \
                 gets the --chown owner); buildah 1.28 keeps the owners in the archive",
    },
    Listed {
        case: "expose-volume",
        key: "config.ExposedPorts",
        reason: "BuildKit expands port ranges (8000-8003 -> four ports) and lowercases the \
                 protocol (convert_expose.go); buildah keeps `8000-8003/tcp` and `53/UDP`",
    },
    Listed {
        case: "expose-volume",
        key: "/a only-buildah",
        reason: "buildah creates the directories of a VOLUME in the rootfs; BuildKit's \
                 dispatchVolume only records them in the config",
    },
    Listed {
        case: "expose-volume",
        key: "/b only-buildah",
        reason: "buildah creates the directories of a VOLUME in the rootfs; BuildKit's \
                 dispatchVolume only records them in the config",
    },
    Listed {
        case: "shell",
        key: "config.Cmd",
        reason: "shell-form CMD runs through the SHELL in force (BuildKit withShell); buildah \
                 1.28 always uses /bin/sh -c",
    },
    Listed {
        case: "shell",
        key: "config.Entrypoint",
        reason: "shell-form ENTRYPOINT runs through the SHELL in force (BuildKit withShell); \
                 buildah 1.28 always uses /bin/sh -c",
    },
    Listed {
        case: "special-modes",
        key: "/bin/suid mode",
        reason: SETID,
    },
    Listed {
        case: "special-modes",
        key: "/s/both mode",
        reason: SETID,
    },
    Listed {
        case: "special-modes",
        key: "/s/sgid mode",
        reason: SETID,
    },
    Listed {
        case: "special-modes",
        key: "/s/sgiddir mode",
        reason: SETID,
    },
    Listed {
        case: "special-modes",
        key: "/s/suid mode",
        reason: SETID,
    },
    Listed {
        case: "run-hardlinks",
        key: "/bb-hard links",
        reason: HARDLINK_LOWER,
    },
    Listed {
        case: "run-hardlinks",
        key: "/bin/busybox links",
        reason: HARDLINK_LOWER,
    },
    Listed {
        case: "run-hosts-resolv",
        key: "/etc/hosts size",
        reason: HOSTS,
    },
    Listed {
        case: "run-hosts-resolv",
        key: "/etc/hosts sha256",
        reason: HOSTS,
    },
    Listed {
        case: "run-hosts-resolv",
        key: "/etc/hosts mtime",
        reason: HOSTS,
    },
    Listed {
        case: "run-hosts-resolv",
        key: "/seen sha256",
        reason: HOSTS,
    },
    Listed {
        case: "run-env-arg",
        key: "/out2 size",
        reason: ARG_AFTER_ENV,
    },
    Listed {
        case: "run-env-arg",
        key: "/out2 sha256",
        reason: ARG_AFTER_ENV,
    },
    Listed {
        case: "run-mknod",
        key: "/blk only-kiln",
        reason: MKNOD,
    },
    Listed {
        case: "run-mknod",
        key: "/null2 only-kiln",
        reason: MKNOD,
    },
    Listed {
        case: "run-mknod",
        key: "/no-mknod only-buildah",
        reason: MKNOD,
    },
    Listed {
        case: "run-hardlink-lower",
        key: "/d/a links",
        reason: HARDLINK_COPYUP,
    },
    Listed {
        case: "run-hardlink-lower",
        key: "/d/b size",
        reason: HARDLINK_COPYUP,
    },
    Listed {
        case: "run-hardlink-lower",
        key: "/d/b sha256",
        reason: HARDLINK_COPYUP,
    },
    Listed {
        case: "run-hardlink-lower",
        key: "/d/b mtime",
        reason: HARDLINK_COPYUP,
    },
    Listed {
        case: "run-hardlink-lower",
        key: "/d/b links",
        reason: HARDLINK_COPYUP,
    },
];

const HARDLINK_COPYUP: &str = "RUN appends to one name of a hard-linked pair from a lower layer: \
                               overlayfs (index=off, the kernel default, under BuildKit's \
                               overlay snapshotter as under kiln) copies up that name only, so \
                               the link breaks and the other name keeps the old content; \
                               buildah's vfs container has the real link and changes both";

const MKNOD: &str = "RUN mknod: Docker's default capabilities (BuildKit's oci spec) include \
                     CAP_MKNOD, as kiln's; buildah's default capability list \
                     (containers.conf) leaves it out, so mknod fails there";

const ARG_AFTER_ENV: &str = "ARG E=value after ENV E=...: BuildKit's dispatchArg adds the ARG to \
                             the state's env (llb AddEnv), so RUN sees the ARG's value (as kiln; \
                             golden parse/arg_env_same_name_later_wins); buildah keeps the ENV \
                             value, as the classic builder and the Dockerfile reference say";

const HOSTS: &str = "an image with its own /etc/hosts: BuildKit bind-mounts a fresh hosts file \
                     (executor/oci GetHostsFile: localhost and the sandbox name only) over it \
                     during RUN, so RUN neither sees nor changes the image's file (as kiln); \
                     buildah mounts a copy seeded from the image's file and its RUN's writes \
                     end up in the image";

const HARDLINK_LOWER: &str = "RUN hard-links a file of a lower layer: overlayfs copies it up, so \
                              BuildKit's overlay diff has both names in the layer, linked (as \
                              kiln); buildah's vfs diff sees /bin/busybox unchanged and stores \
                              /bb-hard as a separate copy";

/// Every listed difference.
fn listed() -> impl Iterator<Item = &'static Listed> {
    DIFFERENCES.iter().chain(RUN_STUBS.iter())
}

/// RUN cases: the mount points buildah's runtime leaves in the image.
const RUN_STUBS: [Listed; 5] = [
    Listed {
        case: "run-*",
        key: "/etc/hostname only-buildah",
        reason: "buildah bind-mounts /etc/hostname and leaves the empty mount point in the \
                 image; BuildKit mounts only /etc/hosts and /etc/resolv.conf and removes \
                 their stubs (executor.MountStubsCleaner)",
    },
    Listed {
        case: "run-*",
        key: "/run only-buildah",
        reason: "buildah mounts /run/.containerenv and leaves /run in the image; BuildKit \
                 mounts nothing there",
    },
    Listed {
        case: "run-*",
        key: "/dev only-buildah",
        reason: MOUNT_DIRS,
    },
    Listed {
        case: "run-*",
        key: "/proc only-buildah",
        reason: MOUNT_DIRS,
    },
    Listed {
        case: "run-*",
        key: "/sys only-buildah",
        reason: MOUNT_DIRS,
    },
];

const MOUNT_DIRS: &str = "the test's base image has no /dev, /proc, /sys (real bases do): the \
                          OCI runtime under buildah creates the mount points and they stay in \
                          the image; kiln's sandbox removes the empty ones it made \
                          (kiln-sandbox rootfs_is_left_without_mount_points). runc under \
                          BuildKit would leave them too: an open decision, not a buildah bug";

const SETID: &str = "buildah 1.28 strips setuid/setgid bits when copying from the context; \
                     BuildKit's copy keeps the whole mode (fsutil copyFileInfo chmods fi.Mode())";

/// Meta files of a case directory that are not part of the build context.
const META: [&str; 5] = ["args", "setup", "expected", "check", "fails"];

/// Last-Modified of everything the test's HTTP server sends.
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

/// The time every context file gets (see [`fix_times`]).
const CONTEXT_MTIME: i64 = 1_700_000_000;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/differential")
}

// ---------------------------------------------------------------------------------------
// The root filesystem walker.

/// What the comparison looks at for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    /// Regular files only.
    size: u64,
    /// Symlinks only.
    target: String,
    /// sha256 of a regular file's content.
    sha256: String,
    /// A small text file's content, for messages only.
    text: Option<String>,
    /// name -> hex value; `security.selinux` left out (a host label, not image content).
    xattrs: BTreeMap<String, String>,
    /// Seconds; `None` for directories (their mtimes change as entries are added).
    mtime: Option<i64>,
    /// Device number of character and block devices.
    rdev: u64,
    /// Other paths of the tree that are the same file (hard links).
    links: Vec<String>,
}

type Tree = BTreeMap<String, Entry>;

fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "file"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else {
        "socket"
    }
}

fn xattrs(path: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; 4096];
    let n = match rustix::fs::llistxattr(path, &mut names) {
        Ok(n) => n,
        Err(_) => return out,
    };
    for name in names[..n].split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        if name == "security.selinux" {
            continue;
        }
        let mut value = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::lgetxattr(path, name.as_str(), &mut value) {
            out.insert(name, hex::encode(&value[..len]));
        }
    }
    out
}

fn sha256_file(path: &Path) -> String {
    let mut f = std::fs::File::open(path).expect("open a file of the tree");
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).expect("read a file of the tree");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// Walk `root` without following symlinks. Paths are absolute container paths (`/` itself
/// included).
fn walk(root: &Path) -> Tree {
    let mut tree = Tree::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), "/".to_string())];
    while let Some((host, path)) = stack.pop() {
        let m = std::fs::symlink_metadata(&host).expect("lstat a path of the tree");
        let kind = kind_of(m.file_type());
        let e = Entry {
            kind,
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            size: if kind == "file" { m.size() } else { 0 },
            target: if kind == "symlink" {
                std::fs::read_link(&host)
                    .expect("readlink")
                    .to_string_lossy()
                    .into_owned()
            } else {
                String::new()
            },
            sha256: if kind == "file" {
                sha256_file(&host)
            } else {
                String::new()
            },
            text: (kind == "file" && m.size() <= 512)
                .then(|| std::fs::read(&host).ok())
                .flatten()
                .and_then(|b| String::from_utf8(b).ok()),
            xattrs: xattrs(&host),
            mtime: (kind != "dir").then_some(m.mtime()),
            rdev: if matches!(kind, "char" | "block") {
                m.rdev()
            } else {
                0
            },
            links: Vec::new(),
        };
        if kind != "dir" && m.nlink() > 1 {
            inodes
                .entry((m.dev(), m.ino()))
                .or_default()
                .push(path.clone());
        }
        if kind == "dir" {
            for de in std::fs::read_dir(&host).expect("read a directory of the tree") {
                let de = de.expect("directory entry");
                let name = de.file_name().to_string_lossy().into_owned();
                let child = if path == "/" {
                    format!("/{name}")
                } else {
                    format!("{path}/{name}")
                };
                stack.push((de.path(), child));
            }
        }
        tree.insert(path, e);
    }
    for group in inodes.values().filter(|g| g.len() > 1) {
        for p in group {
            let mut others: Vec<String> = group.iter().filter(|o| *o != p).cloned().collect();
            others.sort();
            if let Some(e) = tree.get_mut(p) {
                e.links = others;
            }
        }
    }
    tree
}

/// One difference: its key (for [`DIFFERENCES`]) and what each side has.
#[derive(Debug, Clone)]
struct Diff {
    key: String,
    detail: String,
}

/// `since`: the start of the test; an mtime both tools give at or after it is a build-time
/// mtime (a file a RUN step made or changed) and is not compared.
fn diff_trees(kiln: &Tree, other: &Tree, other_name: &str, since: i64) -> Vec<Diff> {
    let mut out = Vec::new();
    let paths: BTreeSet<&String> = kiln.keys().chain(other.keys()).collect();
    for p in paths {
        match (kiln.get(p), other.get(p)) {
            (Some(k), None) => out.push(Diff {
                key: format!("{p} only-kiln"),
                detail: format!("{p}: only in kiln's image ({k:?})"),
            }),
            (None, Some(o)) => out.push(Diff {
                key: format!("{p} only-{other_name}"),
                detail: format!("{p}: only in {other_name}'s image ({o:?})"),
            }),
            (Some(k), Some(o)) => {
                let mut field = |name: &str, a: String, b: String| {
                    if a != b {
                        out.push(Diff {
                            key: format!("{p} {name}"),
                            detail: format!("{p}: {name}: kiln {a}, {other_name} {b}"),
                        });
                    }
                };
                field("type", k.kind.into(), o.kind.into());
                if k.kind != o.kind {
                    continue;
                }
                field("mode", format!("{:04o}", k.mode), format!("{:04o}", o.mode));
                field(
                    "owner",
                    format!("{}:{}", k.uid, k.gid),
                    format!("{}:{}", o.uid, o.gid),
                );
                field("size", k.size.to_string(), o.size.to_string());
                field("target", k.target.clone(), o.target.clone());
                match (&k.text, &o.text) {
                    (Some(a), Some(b)) if k.sha256 != o.sha256 => {
                        field("sha256", format!("{a:?}"), format!("{b:?}"))
                    }
                    _ => field("sha256", k.sha256.clone(), o.sha256.clone()),
                }
                field(
                    "xattrs",
                    format!("{:?}", k.xattrs),
                    format!("{:?}", o.xattrs),
                );
                let build_time = |m: Option<i64>| m.is_some_and(|t| t >= since);
                if !(build_time(k.mtime) && build_time(o.mtime)) {
                    field("mtime", format!("{:?}", k.mtime), format!("{:?}", o.mtime));
                }
                field("rdev", k.rdev.to_string(), o.rdev.to_string());
                field("links", format!("{:?}", k.links), format!("{:?}", o.links));
            }
            (None, None) => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Config.

/// The config fields compared, as named in the docker/OCI config's `config` object.
const CONFIG_FIELDS: [&str; 12] = [
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
];

/// The compared part of an image config: `config` fields and the author, with null, empty
/// strings, lists and maps all meaning "not set".
fn normalize_config(
    config: &serde_json::Value,
    author: &serde_json::Value,
) -> BTreeMap<String, serde_json::Value> {
    let empty = |v: &serde_json::Value| match v {
        serde_json::Value::Null => true,
        serde_json::Value::String(s) => s.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        _ => false,
    };
    let mut out = BTreeMap::new();
    for f in CONFIG_FIELDS {
        let v = config.get(f).cloned().unwrap_or_default();
        out.insert(
            f.to_string(),
            if empty(&v) {
                serde_json::Value::Null
            } else {
                v
            },
        );
    }
    let a = if empty(author) {
        serde_json::Value::Null
    } else {
        author.clone()
    };
    out.insert("author".into(), a);
    out
}

fn diff_configs(
    kiln: &BTreeMap<String, serde_json::Value>,
    other: &BTreeMap<String, serde_json::Value>,
    other_name: &str,
) -> Vec<Diff> {
    let mut out = Vec::new();
    for (k, v) in kiln {
        let o = other.get(k).cloned().unwrap_or_default();
        if *v != o {
            out.push(Diff {
                key: format!("config.{k}"),
                detail: format!("config {k}: kiln {v}, {other_name} {o}"),
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The tools.

fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// buildah on storage of its own inside the test's temporary directory (and a
/// storage.conf of its own, so the host's storage settings play no part).
struct Buildah {
    root: PathBuf,
    runroot: PathBuf,
    conf: PathBuf,
}

impl Buildah {
    fn new(dir: &Path) -> Buildah {
        let b = Buildah {
            root: dir.join("root"),
            runroot: dir.join("run"),
            conf: dir.join("storage.conf"),
        };
        std::fs::create_dir_all(dir).expect("mkdir buildah");
        std::fs::write(
            &b.conf,
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                b.root.display(),
                b.runroot.display()
            ),
        )
        .expect("write storage.conf");
        b
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("buildah");
        c.env("CONTAINERS_STORAGE_CONF", &self.conf);
        c.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(["--storage-driver", "vfs"]);
        c.env_remove("BUILDAH_LAYERS")
            .env_remove("BUILDAH_FORMAT")
            .env_remove("SOURCE_DATE_EPOCH")
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1");
        c
    }

    fn storage(&self) -> String {
        format!("vfs@{}+{}", self.root.display(), self.runroot.display())
    }

    fn bud(&self, ctx: &Path, dockerfile: &Path, tag: &str, args: &[String]) -> Result<(), String> {
        run(
            self.cmd()
                .args([
                    "bud",
                    "--pull=never",
                    "--format",
                    "docker",
                    "--layers=false",
                ])
                // RUN steps: no network, runc, rlimits it may set here.
                .args(support::OCI_RUN_FLAGS)
                .arg("-t")
                .arg(tag)
                .arg("-f")
                .arg(dockerfile)
                .args(args)
                .arg(ctx),
            "buildah bud",
        )
        .map(|_| ())
    }

    fn config(&self, tag: &str) -> Result<BTreeMap<String, serde_json::Value>, String> {
        let text = run(
            self.cmd().args(["inspect", "--type", "image", tag]),
            "buildah inspect",
        )?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("buildah inspect: {e}"))?;
        let mut config = v["Docker"]["config"].clone();
        // buildah stamps its own version on every image; docker build adds no label.
        if let Some(labels) = config.get_mut("Labels").and_then(|l| l.as_object_mut()) {
            labels.remove("io.buildah.version");
        }
        Ok(normalize_config(&config, &v["Docker"]["author"]))
    }

    /// The image's root filesystem, read from a working container's mount.
    fn rootfs(&self, tag: &str) -> Result<Tree, String> {
        let name = run(
            self.cmd().args(["from", "--pull=never", tag]),
            "buildah from",
        )?
        .trim()
        .to_string();
        let container = Container {
            buildah: self,
            name,
        };
        let mnt = run(self.cmd().args(["mount", &container.name]), "buildah mount")?;
        Ok(walk(Path::new(mnt.trim())))
    }
}

/// A buildah working container, unmounted and removed at drop.
struct Container<'a> {
    buildah: &'a Buildah,
    name: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.buildah.cmd().args(["umount", &self.name]).output();
        let _ = self.buildah.cmd().args(["rm", &self.name]).output();
    }
}

/// A small HTTP/1.0 file server on 127.0.0.1 for ADD of URLs: serves the files under `root`
/// (the copied contexts, so `{url}/CASE/FILE` is a file of a case) with a fixed
/// Last-Modified. Lives as long as the test process.
fn serve(root: PathBuf) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let mut reader = BufReader::new(match stream.try_clone() {
                Ok(s) => s,
                Err(_) => continue,
            });
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line.trim().is_empty() => break,
                    Ok(_) => {}
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let path = path.split('?').next().unwrap_or("").trim_start_matches('/');
            let body = if path.split('/').any(|s| s == ".." || s.is_empty()) {
                None
            } else {
                std::fs::read(root.join(path)).ok()
            };
            let _ = match body {
                Some(b) => stream
                    .write_all(
                        format!(
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nLast-Modified: {LAST_MODIFIED}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| stream.write_all(&b)),
                None => stream.write_all(
                    b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    format!("http://{addr}")
}

// ---------------------------------------------------------------------------------------
// Cases.

/// Copy the case directory (without its meta files) into `dest`, keeping modes.
fn copy_context(from: &Path, dest: &Path, top: bool) {
    std::fs::create_dir_all(dest).expect("mkdir context");
    for de in std::fs::read_dir(from).expect("read case directory") {
        let de = de.expect("entry");
        let name = de.file_name();
        if top && META.iter().any(|m| *m == name.to_string_lossy()) {
            continue;
        }
        let ft = de.file_type().expect("file type");
        let to = dest.join(&name);
        if ft.is_dir() {
            copy_context(&de.path(), &to, false);
        } else if ft.is_symlink() {
            let t = std::fs::read_link(de.path()).expect("readlink");
            std::os::unix::fs::symlink(t, &to).expect("symlink");
        } else {
            std::fs::copy(de.path(), &to).expect("copy a context file");
            // Modes as git keeps them, whatever the checkout's umask: 0644 or 0755.
            let exec = de.metadata().expect("stat").mode() & 0o111 != 0;
            set_mode(&to, if exec { 0o755 } else { 0o644 });
        }
    }
    set_mode(dest, 0o755);
}

fn set_mode(path: &Path, mode: u32) {
    rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(mode)).expect("chmod");
}

/// Carry out a case's `setup` file in its copied context `ctx`. One command a line:
///
/// ```text
/// symlink TARGET LINK          a symbolic link LINK -> TARGET
/// hardlink EXISTING NEW        a hard link
/// chmod OCTAL PATH             mode (setuid, setgid and sticky bits included)
/// chown UID:GID PATH           owner (no symlink following)
/// mkdir PATH                   an empty directory (git keeps none)
/// xattr PATH NAME VALUE        an extended attribute with a text value
/// xattr-hex PATH NAME HEX      an extended attribute with a binary value
/// tar ARCHIVE DIR [OPTION...]  GNU tar of DIR, compressed by ARCHIVE's extension
/// rm PATH                      remove a file or directory tree
/// mtime PATH SECONDS.NANOS     modification time, set after all others are made equal
/// ```
///
/// Returns the `mtime` settings, for after [`fix_times`].
fn setup(ctx: &Path, script: &str) -> Vec<(PathBuf, i64, i64)> {
    let mut times = Vec::new();
    for line in script.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let p = |i: usize| ctx.join(w[i]);
        match w[0] {
            "symlink" => std::os::unix::fs::symlink(w[1], p(2)).expect("setup symlink"),
            "hardlink" => std::fs::hard_link(p(1), p(2)).expect("setup hardlink"),
            "chmod" => set_mode(&p(2), u32::from_str_radix(w[1], 8).expect("octal mode")),
            "chown" => {
                let (u, g) = w[1].split_once(':').expect("UID:GID");
                std::os::unix::fs::lchown(
                    p(2),
                    Some(u.parse().expect("uid")),
                    Some(g.parse().expect("gid")),
                )
                .expect("setup chown");
            }
            "mkdir" => std::fs::create_dir_all(p(1)).expect("setup mkdir"),
            "xattr" | "xattr-hex" => {
                let value = if w[0] == "xattr" {
                    w[3].as_bytes().to_vec()
                } else {
                    hex::decode(w[3]).expect("hex value")
                };
                rustix::fs::lsetxattr(p(1), w[2], &value, rustix::fs::XattrFlags::empty())
                    .expect("setup xattr (does the filesystem of the temp dir support it?)");
            }
            "tar" => {
                let flag = if w[1].ends_with(".gz") {
                    "-czf"
                } else if w[1].ends_with(".xz") {
                    "-cJf"
                } else {
                    "-cf"
                };
                let st = Command::new("tar")
                    .current_dir(ctx)
                    .args(["--numeric-owner", "--sort=name", "--mtime=@1600000000"])
                    .args(&w[3..])
                    .args([flag, w[1], w[2]])
                    .status()
                    .expect("run tar");
                assert!(st.success(), "setup tar failed: {line}");
            }
            "rm" => {
                let path = p(1);
                if path.is_dir() {
                    std::fs::remove_dir_all(path).expect("setup rm");
                } else {
                    std::fs::remove_file(path).expect("setup rm");
                }
            }
            "mtime" => {
                let (sec, nsec) = w[2].split_once('.').unwrap_or((w[2], "0"));
                times.push((
                    p(1),
                    sec.parse().expect("seconds"),
                    nsec.parse().expect("nanoseconds"),
                ));
            }
            other => panic!("unknown setup command {other:?} in {line:?}"),
        }
    }
    times
}

/// Context files get their times from the checkout and the test run; give every entry the
/// same whole-second time so mtimes compare exactly (rounding is shown by one case's
/// `mtime` setting).
fn fix_times(dir: &Path) {
    set_time(dir, CONTEXT_MTIME, 0);
    for de in std::fs::read_dir(dir).expect("read the context") {
        let de = de.expect("entry");
        if de.file_type().expect("file type").is_dir() {
            fix_times(&de.path());
        } else {
            set_time(&de.path(), CONTEXT_MTIME, 0);
        }
    }
}

fn set_time(path: &Path, sec: i64, nsec: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .expect("set a context file's time");
}

/// Everything the cases share: one kiln store, one buildah storage, the HTTP server.
struct Harness {
    env: TestEnv,
    buildah: Buildah,
    url: String,
    /// kiln's view of the base image, for hand-written expectations.
    base: Tree,
    /// When the test started (seconds): later mtimes are build times.
    since: i64,
}

impl Harness {
    fn new() -> Harness {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64
            - 1;
        assert!(
            rustix::process::geteuid().is_root(),
            "the differential test runs buildah and sets file owners: run it as root"
        );
        if Command::new("buildah").arg("--version").output().is_err() {
            panic!("buildah is required for the differential test: apt-get install buildah (scripts/deps.sh)");
        }
        let env = TestEnv::new();
        env.import_busybox("busybox:test");
        let buildah = Buildah::new(&env.path().join("buildah"));
        // The same base image in both: kiln saves it, skopeo copies it into buildah's storage.
        let archive = env.path().join("base.tar");
        env.ok(&[
            "save",
            "-o",
            archive.to_str().expect("utf-8"),
            "busybox:test",
        ]);
        run(
            Command::new("skopeo")
                .env("CONTAINERS_STORAGE_CONF", &buildah.conf)
                .args(["--insecure-policy", "copy"])
                .arg(format!("oci-archive:{}", archive.display()))
                .arg(format!(
                    "containers-storage:[{}]localhost/busybox:test",
                    buildah.storage()
                )),
            "skopeo copy of the base image into buildah's storage",
        )
        .expect("skopeo copy");
        let base_dir = env.path().join("base-rootfs");
        env.ok(&[
            "export",
            "busybox:test",
            "-o",
            base_dir.to_str().expect("utf-8"),
        ]);
        let base = walk(&base_dir);
        let url = serve(env.path().join("ctx"));
        Harness {
            env,
            buildah,
            url,
            base,
            since,
        }
    }

    fn kiln_build(
        &self,
        ctx: &Path,
        dockerfile: &Path,
        tag: &str,
        args: &[String],
    ) -> Result<(), String> {
        run(
            self.env
                .kiln()
                .args(["build", "-q", "-t", tag, "-f"])
                .arg(dockerfile)
                .args(args)
                .arg(ctx),
            "kiln build",
        )
        .map(|_| ())
    }

    fn kiln_config(&self, tag: &str) -> Result<BTreeMap<String, serde_json::Value>, String> {
        let text = run(self.env.kiln().args(["inspect", tag]), "kiln inspect")?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("kiln inspect: {e}"))?;
        Ok(normalize_config(&v[0]["Config"], &v[0]["Author"]))
    }

    fn kiln_rootfs(&self, tag: &str, case: &str) -> Result<Tree, String> {
        let dir = self.env.path().join("out").join(case);
        run(
            self.env.kiln().args(["export", tag, "-o"]).arg(&dir),
            "kiln export",
        )?;
        let tree = walk(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(tree)
    }

    /// Build and compare one case; returns its differences (or an error).
    fn case(&self, name: &str) -> Result<Outcome, String> {
        let src = cases_dir().join(name);
        let ctx = self.env.path().join("ctx").join(name);
        copy_context(&src, &ctx, true);
        let script = std::fs::read_to_string(src.join("setup")).unwrap_or_default();
        let times = setup(&ctx, &script);
        fix_times(&ctx);
        for (p, sec, nsec) in times {
            set_time(&p, sec, nsec);
        }
        let args: Vec<String> = std::fs::read_to_string(src.join("args"))
            .unwrap_or_default()
            .split_whitespace()
            .map(|a| a.replace("{url}", &self.url))
            .collect();
        let tag = format!("diff-{name}");
        let expected = std::fs::read_to_string(src.join("expected")).ok();
        let parent = ctx.join("parent.Dockerfile");
        if parent.is_file() {
            let ptag = format!("{name}-parent");
            self.kiln_build(&ctx, &parent, &ptag, &args)?;
            if expected.is_none() {
                self.buildah.bud(&ctx, &parent, &ptag, &args)?;
            }
        }
        let dockerfile = ctx.join("Dockerfile");
        if let Ok(want) = std::fs::read_to_string(src.join("fails")) {
            return self.both_fail(&ctx, &dockerfile, &tag, &args, want.trim());
        }
        self.kiln_build(&ctx, &dockerfile, &tag, &args)?;
        let kiln_tree = self.kiln_rootfs(&tag, name)?;
        let kiln_config = self.kiln_config(&tag)?;
        if let Some(exp) = expected {
            return Ok(Outcome::Expected(check_expected(
                &exp,
                Some(&self.base),
                &kiln_tree,
                &kiln_config,
            )));
        }
        let mut checks = Vec::new();
        if let Ok(check) = std::fs::read_to_string(src.join("check")) {
            checks = check_expected(&check, None, &kiln_tree, &kiln_config);
        }
        self.buildah.bud(&ctx, &dockerfile, &tag, &args)?;
        let b_tree = self.buildah.rootfs(&tag)?;
        let b_config = self.buildah.config(&tag)?;
        let mut diffs = diff_trees(&kiln_tree, &b_tree, "buildah", self.since);
        diffs.extend(diff_configs(&kiln_config, &b_config, "buildah"));
        Ok(Outcome::Compared(diffs, checks))
    }
}

impl Harness {
    /// A case with a `fails` file: both builds must fail, and kiln's error must mention
    /// the file's text (when it has any). Nothing else is compared.
    fn both_fail(
        &self,
        ctx: &Path,
        dockerfile: &Path,
        tag: &str,
        args: &[String],
        want: &str,
    ) -> Result<Outcome, String> {
        let mut problems = Vec::new();
        match self.kiln_build(ctx, dockerfile, tag, args) {
            Ok(()) => problems.push("kiln build succeeded, expected a failure".to_string()),
            Err(e) if !e.contains(want) => {
                problems.push(format!("kiln's error does not mention {want:?}: {e}"))
            }
            Err(_) => {}
        }
        if self.buildah.bud(ctx, dockerfile, tag, args).is_ok() {
            problems.push("buildah bud succeeded, expected a failure".to_string());
        }
        Ok(Outcome::Compared(Vec::new(), problems))
    }
}

enum Outcome {
    /// Compared against buildah: the differences found, and failed `check` lines.
    Compared(Vec<Diff>, Vec<String>),
    /// Checked against a hand-written `expected` file: the mismatches.
    Expected(Vec<String>),
}

/// Check kiln's result against a hand-written `expected` file. Its lines:
///
/// ```text
/// PATH TYPE MODE UID:GID [size=N] [target=T] [text=CONTENT] [mtime=N] [xattr.NAME=HEX]
///                        [links=PATH,PATH...]
/// config FIELD JSON
/// ```
///
/// Every listed path must match; with `base`, every path kiln's image has that the base
/// image does not (or has differently) must be listed too. `text` is the whole file content
/// with `\n` (newline) and `\s` (space) escapes; `links` the other paths of a hard-link
/// group. `config` lines give the expected value of a compared config field (`null` for
/// unset); fields not listed are not checked.
fn check_expected(
    expected: &str,
    base: Option<&Tree>,
    tree: &Tree,
    config: &BTreeMap<String, serde_json::Value>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for line in expected.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("config ") {
            let (field, json) = rest.split_once(' ').expect("config FIELD JSON");
            let want: serde_json::Value = serde_json::from_str(json).expect("expected JSON");
            let got = config.get(field).cloned().unwrap_or_default();
            if got != want {
                problems.push(format!("config {field}: kiln {got}, expected {want}"));
            }
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        assert!(
            w.len() >= 4,
            "expected line needs PATH TYPE MODE UID:GID: {line}"
        );
        let path = w[0];
        listed.insert(path.to_string());
        let Some(e) = tree.get(path) else {
            problems.push(format!("{path}: missing from kiln's image"));
            continue;
        };
        let mut check = |what: &str, got: String, want: &str| {
            if got != want {
                problems.push(format!("{path}: {what}: kiln {got}, expected {want}"));
            }
        };
        check("type", e.kind.to_string(), w[1]);
        check("mode", format!("{:04o}", e.mode), w[2]);
        check("owner", format!("{}:{}", e.uid, e.gid), w[3]);
        for kv in &w[4..] {
            let (k, v) = kv.split_once('=').expect("KEY=VALUE");
            match k {
                "size" => check("size", e.size.to_string(), v),
                "target" => check("target", e.target.clone(), v),
                "mtime" => check("mtime", format!("{}", e.mtime.unwrap_or(-1)), v),
                "links" => check("links", e.links.join(","), v),
                "text" => {
                    let want = v.replace("\\n", "\n").replace("\\s", " ");
                    check(
                        "content sha256",
                        e.sha256.clone(),
                        &hex::encode(Sha256::digest(want.as_bytes())),
                    );
                }
                x if x.starts_with("xattr.") => check(
                    x,
                    e.xattrs
                        .get(&x["xattr.".len()..])
                        .cloned()
                        .unwrap_or_default(),
                    v,
                ),
                other => panic!("unknown expected key {other:?} in {line:?}"),
            }
        }
    }
    let Some(base) = base else {
        return problems;
    };
    for (p, e) in tree {
        if p != "/" && base.get(p) != Some(e) && !listed.contains(p) {
            problems.push(format!("{p}: in kiln's image but not expected ({e:?})"));
        }
    }
    problems
}

#[test]
fn kiln_and_buildah_build_the_same_images() {
    let started = std::time::Instant::now();
    let h = Harness::new();
    let mut names: Vec<String> = std::fs::read_dir(cases_dir())
        .expect("read tests/differential")
        .map(|d| d.expect("entry"))
        .filter(|d| d.path().join("Dockerfile").is_file())
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if let Ok(only) = std::env::var("KILN_DIFF_CASE") {
        // A case name, or a prefix ending in `*` (`run-*`).
        match only.strip_suffix('*') {
            Some(prefix) => names.retain(|n| n.starts_with(prefix)),
            None => names.retain(|n| *n == only),
        }
    }
    let mut failures = Vec::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let (mut compared, mut handwritten) = (0, 0);
    // Compared cases with differences (a failing build's case has none to compare).
    let mut compared_names: Vec<String> = Vec::new();
    for name in &names {
        let t = std::time::Instant::now();
        match h.case(name) {
            Err(e) => failures.push(format!("[{name}] {e}")),
            Ok(Outcome::Expected(problems)) => {
                handwritten += 1;
                for p in problems {
                    failures.push(format!("[{name}] (hand-written expectation) {p}"));
                }
            }
            Ok(Outcome::Compared(diffs, checks)) => {
                compared += 1;
                if !diffs.is_empty() {
                    compared_names.push(name.clone());
                }
                for p in checks {
                    failures.push(format!("[{name}] (check) {p}"));
                }
                for d in diffs {
                    match listed().find(|l| l.matches(name, &d.key)) {
                        Some(l) => {
                            eprintln!("[{name}] listed difference: {} ({})", d.detail, l.reason);
                            seen.insert((l.case.to_string(), l.key.to_string()));
                        }
                        None => failures.push(format!(
                            "[{name}] unlisted difference `{}`: {}",
                            d.key, d.detail
                        )),
                    }
                }
            }
        }
        eprintln!("[{name}] done in {:.1}s", t.elapsed().as_secs_f64());
    }
    for l in listed() {
        let ran = match l.case.strip_suffix('*') {
            Some(prefix) => compared_names.iter().any(|n| n.starts_with(prefix)),
            None => names.iter().any(|n| n == l.case),
        };
        if ran && !seen.contains(&(l.case.to_string(), l.key.to_string())) {
            failures.push(format!(
                "[{}] listed difference `{}` did not show up",
                l.case, l.key
            ));
        }
    }
    let _ = h.buildah.cmd().args(["rm", "--all"]).output();
    eprintln!(
        "{} cases: {compared} compared with buildah, {handwritten} against hand-written expectations, {:.0}s",
        names.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
