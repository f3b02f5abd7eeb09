//! Root filesystems walked into comparable entries, and their differences.

use super::*;

/// What the comparison looks at for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) kind: &'static str,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Regular files only.
    pub(crate) size: u64,
    /// Symlinks only.
    pub(crate) target: String,
    /// sha256 of a regular file's content.
    pub(crate) sha256: String,
    /// A small text file's content, for messages only.
    pub(crate) text: Option<String>,
    /// name -> hex value; `security.selinux` left out (a host label, not image content).
    pub(crate) xattrs: BTreeMap<String, String>,
    /// Seconds; `None` for directories (their mtimes change as entries are added).
    pub(crate) mtime: Option<i64>,
    /// Device number of character and block devices.
    pub(crate) rdev: u64,
    /// Other paths of the tree that are the same file (hard links).
    pub(crate) links: Vec<String>,
}

pub(crate) type Tree = BTreeMap<String, Entry>;

pub(crate) fn kind_of(ft: std::fs::FileType) -> &'static str {
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

pub(crate) fn xattrs(path: &Path) -> BTreeMap<String, String> {
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

pub(crate) fn sha256_file(path: &Path) -> String {
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
pub(crate) fn walk(root: &Path) -> Tree {
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
pub(crate) struct Diff {
    pub(crate) key: String,
    pub(crate) detail: String,
}

/// `since`: the start of the test; an mtime both tools give at or after it is a build-time
/// mtime (a file a RUN step made or changed) and is not compared.
pub(crate) fn diff_trees(kiln: &Tree, other: &Tree, other_name: &str, since: i64) -> Vec<Diff> {
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
