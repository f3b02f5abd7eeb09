//! The context stat cache: content digests of build-context files, remembered with the
//! file's size, mtime, ctime, inode, device and mode, so an unchanged file is not read and
//! hashed again on the next build.
//!
//! One file per context directory, `v2-<sha256 of the directory path>` in the store's
//! [`CacheArea::ContextStat`] (the store decides where), a line per file: `<hex> <size>
//! <mtime s> <mtime ns> <ctime s> <ctime ns> <ino> <dev> <mode> <path>`. The store
//! rewrites it atomically (temp + rename) at the end of a build. A file modified in the same
//! second it was hashed is not remembered (its mtime could stay the same after a later
//! change in that second).

use kiln_layer::{Metadata, Root};
use kiln_oci::store::CacheArea;
use kiln_oci::{Digest, Store};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

/// Largest stat cache file read (a context at [`MAX_ENTRIES`] with long paths).
const MAX_FILE_BYTES: u64 = 1 << 30;

/// Most entries kept for one context (larger contexts simply hash the rest).
const MAX_ENTRIES: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: (i64, u32),
    /// A file rewritten with the same size and its mtime put back (tar, `touch -d`) still
    /// gets a new ctime.
    ctime: (i64, u32),
    ino: u64,
    dev: u64,
    mode: u32,
}

impl Stamp {
    fn of(m: &Metadata) -> Stamp {
        Stamp {
            size: m.size,
            mtime: m.mtime,
            ctime: m.ctime,
            ino: m.ino,
            dev: m.dev,
            mode: m.mode,
        }
    }
}

/// The stat cache of one build context.
#[derive(Debug)]
pub struct StatCache {
    /// The store and file name it is saved under; `None` keeps it in memory only (a
    /// context from a tarball).
    file: Option<(Store, String)>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, (Stamp, Digest)>,
    dirty: bool,
    /// Files hashed in this build (for tests and the summary).
    hashed: u64,
}

impl StatCache {
    /// Load the stat cache of context `dir` from `store` (missing or damaged: empty).
    pub fn load(store: &Store, dir: &Path) -> StatCache {
        let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let hash = hex::encode(Sha256::digest(abs.as_os_str().as_encoded_bytes()));
        // `v2`: stamps with ctime; files of the earlier format are not read.
        let name = format!("v2-{hash}");
        let mut state = State::default();
        let bytes = store.read_cache_file(CacheArea::ContextStat, &name, MAX_FILE_BYTES);
        if let Some(text) = bytes.and_then(|b| String::from_utf8(b).ok()) {
            for line in text.lines() {
                if let Some((path, entry)) = parse_line(line) {
                    state.entries.insert(path, entry);
                }
            }
        }
        StatCache {
            file: Some((store.clone(), name)),
            state: Mutex::new(state),
        }
    }

    /// A stat cache that is not saved.
    pub fn in_memory() -> StatCache {
        StatCache {
            file: None,
            state: Mutex::new(State::default()),
        }
    }

    /// The sha256 of regular file `rel` in `root`, from the cache when its stat matches.
    pub fn digest(&self, root: &Root, rel: &str, meta: &Metadata) -> std::io::Result<Digest> {
        let stamp = Stamp::of(meta);
        if let Ok(st) = self.state.lock() {
            if let Some((s, d)) = st.entries.get(rel) {
                if *s == stamp {
                    return Ok(*d);
                }
            }
        }
        let mut f = root.open_file(rel).map_err(std::io::Error::other)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let hex = hex::encode(h.finalize());
        let digest = Digest::from_hex(&hex)
            .ok_or_else(|| std::io::Error::other("sha256 gave an invalid digest"))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if let Ok(mut st) = self.state.lock() {
            st.hashed += 1;
            // Racy: a change later in the same second would keep this mtime.
            if meta.mtime.0 < now - 1 && !rel.contains('\n') && st.entries.len() < MAX_ENTRIES {
                st.entries.insert(rel.to_string(), (stamp, digest));
                st.dirty = true;
            }
        }
        Ok(digest)
    }

    /// How many files were read and hashed (not found in the cache).
    pub fn hashed(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.hashed)
    }

    /// Write the cache back if it changed (best effort: a failure only costs re-hashing).
    pub fn save(&self) {
        let Some((store, name)) = &self.file else {
            return;
        };
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if !st.dirty {
            return;
        }
        let mut text = String::new();
        for (path, (s, d)) in &st.entries {
            text.push_str(&format!(
                "{} {} {} {} {} {} {} {} {} {}\n",
                d.hex(),
                s.size,
                s.mtime.0,
                s.mtime.1,
                s.ctime.0,
                s.ctime.1,
                s.ino,
                s.dev,
                s.mode,
                path
            ));
        }
        let written = store.write_cache_file(CacheArea::ContextStat, name, text.as_bytes());
        if written.is_ok() {
            st.dirty = false;
        }
    }
}

fn parse_line(line: &str) -> Option<(String, (Stamp, Digest))> {
    let mut it = line.splitn(10, ' ');
    let digest = Digest::from_hex(it.next()?)?;
    let mut num = || it.next()?.parse::<i64>().ok();
    let size = num()? as u64;
    let mtime = (num()?, num()? as u32);
    let ctime = (num()?, num()? as u32);
    let ino = num()? as u64;
    let dev = num()? as u64;
    let mode = num()? as u32;
    let path = it.next()?.to_string();
    Some((
        path,
        (
            Stamp {
                size,
                mtime,
                ctime,
                ino,
                dev,
                mode,
            },
            digest,
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn remembers_and_notices_changes() {
        let ctx = tempfile::tempdir().expect("context");
        let cache_dir = tempfile::tempdir().expect("cache");
        let store = Store::open(cache_dir.path()).expect("store");
        let file = ctx.path().join("a b.txt");
        std::fs::write(&file, b"one").expect("write");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(100);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(old))
            .expect("set mtime");
        let root = Root::open(ctx.path()).expect("root");
        let meta = || root.lstat("a b.txt").expect("lstat").expect("exists");
        let c = StatCache::load(&store, ctx.path());
        let d1 = c.digest(&root, "a b.txt", &meta()).expect("digest");
        assert_eq!(d1, Digest::of_bytes(b"one"));
        assert_eq!(c.hashed(), 1);
        c.save();
        let c = StatCache::load(&store, ctx.path());
        assert_eq!(c.digest(&root, "a b.txt", &meta()).expect("digest"), d1);
        assert_eq!(c.hashed(), 0, "served from the saved cache");
        std::fs::write(&file, b"two!").expect("rewrite");
        let d2 = c.digest(&root, "a b.txt", &meta()).expect("digest");
        assert_eq!(d2, Digest::of_bytes(b"two!"));
        assert_eq!(c.hashed(), 1);
    }

    /// A file rewritten in place with the same size and its mtime put back (as tar does when
    /// it extracts a newer release over the old one) is read again: its ctime moved.
    #[test]
    fn same_size_and_mtime_put_back_is_still_noticed() {
        let ctx = tempfile::tempdir().expect("context");
        let cache_dir = tempfile::tempdir().expect("cache");
        let store = Store::open(cache_dir.path()).expect("store");
        let file = ctx.path().join("v");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(100);
        let write = |content: &[u8]| {
            let mut f = std::fs::File::options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&file)
                .expect("open");
            f.write_all(content).expect("write");
            f.set_modified(old).expect("set mtime");
        };
        write(b"VER-1");
        let root = Root::open(ctx.path()).expect("root");
        let meta = || root.lstat("v").expect("lstat").expect("exists");
        let c = StatCache::load(&store, ctx.path());
        assert_eq!(
            c.digest(&root, "v", &meta()).expect("digest"),
            Digest::of_bytes(b"VER-1")
        );
        c.save();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(b"VER-2");
        let before = meta();
        assert_eq!((before.size, before.mtime.0), (5, meta().mtime.0));
        let c = StatCache::load(&store, ctx.path());
        assert_eq!(
            c.digest(&root, "v", &meta()).expect("digest"),
            Digest::of_bytes(b"VER-2"),
            "served stale content from the stat cache"
        );
    }
}
