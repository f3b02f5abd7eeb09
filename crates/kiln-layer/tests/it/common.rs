//! Shared test helpers: temp roots with a sentinel outside, snapshots of
//! everything outside the root, a raw tar builder for hostile archives.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kiln_layer::Root;
use sha2::{Digest, Sha256};

pub const SENTINEL: &[u8] = b"precious sentinel content\n";

/// `security.capability` v2 value: cap_net_raw, effective + permitted.
pub const NET_RAW_EP: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, // magic: VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
    0x00, 0x20, 0x00, 0x00, // permitted (low): 1 << 13
    0x00, 0x00, 0x00, 0x00, // inheritable (low)
    0x00, 0x00, 0x00, 0x00, // permitted (high)
    0x00, 0x00, 0x00, 0x00, // inheritable (high)
];

/// True when the tests run as root (chown, mknod, security.* xattrs).
pub fn is_root() -> bool {
    kiln_layer::extract::is_root()
}

/// Print a clear skip line for a part that needs root.
pub fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        true
    } else {
        eprintln!("SKIPPED (not root): {what}");
        false
    }
}

/// A temp dir holding `root/` (the Root) and `outside/sentinel`.
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub outer: PathBuf,
    pub root_dir: PathBuf,
    pub outside: PathBuf,
    pub sentinel: PathBuf,
    pub root: Root,
}

pub fn sha(b: &[u8]) -> String {
    let d = Sha256::digest(b);
    d.iter().map(|x| format!("{x:02x}")).collect()
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().expect("tempdir");
        let outer = fs::canonicalize(tmp.path()).expect("canonicalize");
        let root_dir = outer.join("root");
        let outside = outer.join("outside");
        fs::create_dir(&root_dir).expect("mkdir root");
        fs::create_dir(&outside).expect("mkdir outside");
        let sentinel = outside.join("sentinel");
        fs::write(&sentinel, SENTINEL).expect("write sentinel");
        let f = fs::File::options()
            .write(true)
            .open(&sentinel)
            .expect("open sentinel");
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
            .expect("set sentinel mtime");
        drop(f);
        let root = Root::open(&root_dir).expect("Root::open");
        Env {
            tmp,
            outer,
            root_dir,
            outside,
            sentinel,
            root,
        }
    }

    /// Host path of a container path.
    pub fn host(&self, p: &str) -> PathBuf {
        self.root_dir.join(p.trim_start_matches('/'))
    }

    /// Everything outside the root that a breakout could touch: the outer
    /// temp dir minus `root/`, plus /etc/passwd and /etc's listing.
    pub fn snapshot(&self) -> Snapshot {
        let mut m = BTreeMap::new();
        walk_host(&self.outer, &self.root_dir, &mut m);
        let passwd = fs::symlink_metadata("/etc/passwd").ok().map(|md| {
            (
                md.nlink(),
                md.mtime(),
                sha(&fs::read("/etc/passwd").unwrap_or_default()),
            )
        });
        let mut etc: Vec<String> = fs::read_dir("/etc")
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        etc.sort();
        Snapshot {
            files: m,
            passwd,
            etc,
        }
    }

    /// Assert nothing outside the root changed since `before`, and the
    /// sentinel is intact.
    pub fn assert_outside_unchanged(&self, before: &Snapshot) {
        let after = self.snapshot();
        assert_eq!(
            before.files, after.files,
            "something outside the root changed"
        );
        assert_eq!(before.passwd, after.passwd, "/etc/passwd changed");
        assert_eq!(before.etc, after.etc, "/etc listing changed");
        assert_eq!(fs::read(&self.sentinel).expect("read sentinel"), SENTINEL);
        let md = fs::symlink_metadata(&self.sentinel).expect("stat sentinel");
        assert_eq!(md.mtime(), 1_000_000, "sentinel mtime changed");
        assert_eq!(md.nlink(), 1, "sentinel got hard-linked");
    }
}

/// mode, size, mtime, mtime_nsec, uid, gid, nlink, content digest/target.
type Stat = (u32, u64, i64, i64, u32, u32, u64, String);

#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    files: BTreeMap<PathBuf, Stat>,
    passwd: Option<(u64, i64, String)>,
    etc: Vec<String>,
}

fn walk_host(dir: &Path, skip: &Path, m: &mut BTreeMap<PathBuf, Stat>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p == skip {
            continue;
        }
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        let content = if md.file_type().is_file() {
            sha(&fs::read(&p).unwrap_or_default())
        } else if md.file_type().is_symlink() {
            fs::read_link(&p)
                .map(|t| t.display().to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        m.insert(
            p.clone(),
            (
                md.mode(),
                md.size(),
                md.mtime(),
                md.mtime_nsec(),
                md.uid(),
                md.gid(),
                md.nlink(),
                content,
            ),
        );
        if md.file_type().is_dir() {
            walk_host(&p, skip, m);
        }
    }
}

/// Hand-made tar archives, including ones no sane writer produces.
#[derive(Default)]
pub struct RawTar {
    pub buf: Vec<u8>,
}

fn octal(field: &mut [u8], v: u64) {
    let w = field.len() - 1;
    let s = format!("{v:0w$o}");
    let b = s.as_bytes();
    let b = &b[b.len() - w..];
    field[..w].copy_from_slice(b);
    field[w] = 0;
}

pub struct H<'a> {
    pub name: &'a [u8],
    pub typeflag: u8,
    pub mode: u32,
    pub size: u64,
    pub link: &'a [u8],
    pub dev: (u32, u32),
    pub mtime: u64,
    pub uid: u32,
    pub gid: u32,
}

impl<'a> H<'a> {
    pub fn new(name: &'a [u8], typeflag: u8) -> H<'a> {
        H {
            name,
            typeflag,
            mode: 0o644,
            size: 0,
            link: b"",
            dev: (0, 0),
            mtime: 1_000,
            uid: 0,
            gid: 0,
        }
    }
}

impl RawTar {
    pub fn new() -> RawTar {
        RawTar::default()
    }

    pub fn header(&mut self, h: &H<'_>) -> &mut Self {
        let mut b = [0u8; 512];
        let n = h.name.len().min(100);
        b[..n].copy_from_slice(&h.name[..n]);
        octal(&mut b[100..108], u64::from(h.mode));
        octal(&mut b[108..116], u64::from(h.uid));
        octal(&mut b[116..124], u64::from(h.gid));
        octal(&mut b[124..136], h.size);
        octal(&mut b[136..148], h.mtime);
        b[156] = h.typeflag;
        let l = h.link.len().min(100);
        b[157..157 + l].copy_from_slice(&h.link[..l]);
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        octal(&mut b[329..337], u64::from(h.dev.0));
        octal(&mut b[337..345], u64::from(h.dev.1));
        b[148..156].copy_from_slice(b"        ");
        let sum: u64 = b.iter().map(|x| u64::from(*x)).sum();
        octal(&mut b[148..155], sum);
        b[155] = b' ';
        self.buf.extend_from_slice(&b);
        self
    }

    pub fn data(&mut self, d: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(d);
        let pad = (512 - d.len() % 512) % 512;
        self.buf.resize(self.buf.len() + pad, 0);
        self
    }

    pub fn file(&mut self, name: &[u8], content: &[u8]) -> &mut Self {
        let mut h = H::new(name, b'0');
        h.size = content.len() as u64;
        self.header(&h).data(content)
    }

    pub fn dir(&mut self, name: &[u8], mode: u32) -> &mut Self {
        let mut h = H::new(name, b'5');
        h.mode = mode;
        self.header(&h)
    }

    pub fn symlink(&mut self, name: &[u8], target: &[u8]) -> &mut Self {
        let mut h = H::new(name, b'2');
        h.mode = 0o777;
        h.link = target;
        self.header(&h)
    }

    pub fn hardlink(&mut self, name: &[u8], target: &[u8]) -> &mut Self {
        let mut h = H::new(name, b'1');
        h.link = target;
        self.header(&h)
    }

    pub fn chardev(&mut self, name: &[u8], major: u32, minor: u32) -> &mut Self {
        let mut h = H::new(name, b'3');
        h.dev = (major, minor);
        h.mode = 0o666;
        self.header(&h)
    }

    pub fn fifo(&mut self, name: &[u8]) -> &mut Self {
        self.header(&H::new(name, b'6'))
    }

    /// A PAX local header with the given records.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let base = k.len() + v.len() + 3;
            let mut len = base + 1;
            while base + len.to_string().len() != len {
                len = base + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let mut h = H::new(b"PaxHeaders/x", b'x');
        h.size = body.len() as u64;
        self.header(&h).data(&body)
    }

    /// A GNU long name header ('L').
    pub fn gnu_longname(&mut self, name: &[u8]) -> &mut Self {
        let mut d = name.to_vec();
        d.push(0);
        let mut h = H::new(b"././@LongLink", b'L');
        h.size = d.len() as u64;
        self.header(&h).data(&d)
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut b = std::mem::take(&mut self.buf);
        b.extend_from_slice(&[0u8; 1024]);
        b
    }
}

/// Run a command, returning (status ok, stdout, stderr).
pub fn run(cmd: &mut std::process::Command) -> (bool, String, String) {
    match cmd.output() {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => (false, String::new(), e.to_string()),
    }
}
