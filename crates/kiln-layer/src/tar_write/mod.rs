//! Deterministic layer tar writer.
//!
//! Output format, chosen so that the same inputs give byte-identical output:
//!
//! * ustar headers (`ustar\0` magic, version `00`); all numeric fields in
//!   zero-padded octal, NUL-terminated; checksum as six octal digits, NUL,
//!   space; empty uname/gname; devmajor/devminor `0` for non-devices;
//!   directory names end with `/`; only the permission, setuid, setgid and
//!   sticky bits in the mode field; the ustar `prefix` field is never used.
//! * A PAX extended header (`x`, named `PaxHeaders.0/<base name>`, mode 0644,
//!   uid/gid/mtime 0) precedes an entry when it needs one: `path` for names
//!   longer than 100 bytes, `linkpath` for link targets longer than 100 bytes,
//!   `uid`/`gid`/`size`/`mtime` for values that do not fit the octal fields,
//!   and `SCHILY.xattr.<name>` for each extended attribute. Records are
//!   sorted by key.
//! * mtimes are whole seconds (nanoseconds are dropped), clamped to
//!   [`TarOptions::epoch`] if set.
//! * The archive ends with two zero blocks and no further record padding.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::root::{self, Kind, Root};

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writer options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TarOptions {
    /// If set (SOURCE_DATE_EPOCH), every mtime is clamped to at most this.
    pub epoch: Option<i64>,
}

/// Metadata of one layer entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryMeta {
    /// Permission bits plus setuid/setgid/sticky (higher bits are dropped).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Extended attributes, written as `SCHILY.xattr.<name>` PAX records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// Type of one layer entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// Directory (written with a trailing `/`).
    Dir,
    /// Regular file with exactly `size` bytes of content.
    File {
        /// Content length; the content reader must yield exactly this much.
        size: u64,
    },
    /// Symbolic link; the target is stored verbatim.
    Symlink {
        /// Link target.
        target: PathBuf,
    },
    /// Hard link to an earlier entry of the layer (a relative tar path, same
    /// rules as the entry path).
    Hardlink {
        /// Path of the earlier entry.
        target: PathBuf,
    },
    /// Character device.
    Char {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// Block device.
    Block {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// Named pipe.
    Fifo,
    /// OCI whiteout: `path` names the deleted object; the entry is written
    /// as the empty regular file `<parent>/.wh.<name>`.
    Whiteout,
    /// OCI opaque marker: `path` names the directory; the entry is written
    /// as the empty regular file `<path>/.wh..wh..opq`.
    Opaque,
}

mod copy;
mod error;
mod header;
mod tree;

pub use copy::copy_layer;

pub use error::Error;
use header::{base_name, header_block, norm, pax_record, Fields};
pub(crate) use tree::{keep_xattr, write_one};
pub use tree::{write_paths, write_tree};

const BLOCK: usize = 512;
const OCTAL_8: u64 = 0o7777777; // 7 digits
const OCTAL_12: u64 = 0o77777777777; // 11 digits
/// The header fields an entry kind decides.
struct Entry {
    /// The member name (a directory's ends with `/`; whiteouts get their `.wh.` name).
    name: Vec<u8>,
    link: Vec<u8>,
    size: u64,
    dev: (u32, u32),
    typeflag: u8,
}

impl Entry {
    /// The fields for `kind` at the normalized path `p`; the error says what is invalid.
    fn new(p: &[u8], kind: &EntryKind) -> std::result::Result<Entry, String> {
        let mut e = Entry {
            name: p.to_vec(),
            link: Vec::new(),
            size: 0,
            dev: (0, 0),
            typeflag: b'0',
        };
        e.typeflag = match kind {
            EntryKind::Dir => {
                e.name.push(b'/');
                b'5'
            }
            EntryKind::File { size } => {
                e.size = *size;
                b'0'
            }
            EntryKind::Symlink { target } => {
                e.link = target.as_os_str().as_bytes().to_vec();
                if e.link.is_empty() || e.link.contains(&0) {
                    return Err("symlink target is empty or contains a NUL byte".into());
                }
                b'2'
            }
            EntryKind::Hardlink { target } => {
                e.link = norm(target.as_os_str().as_bytes())
                    .map_err(|w| format!("hard link target: {w}"))?;
                b'1'
            }
            EntryKind::Char { major, minor } => {
                e.dev = (*major, *minor);
                b'3'
            }
            EntryKind::Block { major, minor } => {
                e.dev = (*major, *minor);
                b'4'
            }
            EntryKind::Fifo => b'6',
            EntryKind::Whiteout => {
                let base = base_name(p);
                let mut n = p[..p.len() - base.len()].to_vec();
                n.extend_from_slice(b".wh.");
                n.extend_from_slice(base);
                e.name = n;
                b'0'
            }
            EntryKind::Opaque => {
                e.name.extend_from_slice(b"/.wh..wh..opq");
                b'0'
            }
        };
        if u64::from(e.dev.0) > OCTAL_8 || u64::from(e.dev.1) > OCTAL_8 {
            return Err(format!(
                "device number {}:{} does not fit a tar header",
                e.dev.0, e.dev.1
            ));
        }
        Ok(e)
    }
}

/// PAX records for what the ustar header cannot hold: long names, large ids, sizes and
/// times, and the extended attributes.
fn pax_records(
    e: &Entry,
    meta: &EntryMeta,
    mtime: i64,
) -> std::result::Result<BTreeMap<String, Vec<u8>>, String> {
    let mut pax: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if e.name.len() > 100 {
        pax.insert("path".into(), e.name.clone());
    }
    if e.link.len() > 100 {
        pax.insert("linkpath".into(), e.link.clone());
    }
    let (uid, gid) = (u64::from(meta.uid), u64::from(meta.gid));
    if uid > OCTAL_8 {
        pax.insert("uid".into(), uid.to_string().into_bytes());
    }
    if gid > OCTAL_8 {
        pax.insert("gid".into(), gid.to_string().into_bytes());
    }
    if e.size > OCTAL_12 {
        pax.insert("size".into(), e.size.to_string().into_bytes());
    }
    if !(0..=OCTAL_12 as i64).contains(&mtime) {
        pax.insert("mtime".into(), mtime.to_string().into_bytes());
    }
    for (k, v) in &meta.xattrs {
        if k.is_empty() || k.contains('\0') || k.contains('=') {
            return Err(format!(
                "xattr name {k:?} cannot be stored (empty, or contains NUL or '=')"
            ));
        }
        pax.insert(format!("SCHILY.xattr.{k}"), v.clone());
    }
    Ok(pax)
}

/// Writes one layer tar deterministically. See the module docs.
#[derive(Debug)]
pub struct LayerWriter<W: Write> {
    w: W,
    opts: TarOptions,
    emitted: HashSet<Vec<u8>>,
    links: HashMap<(u64, u64), Vec<u8>>,
    skipped: Vec<PathBuf>,
}
impl<W: Write> LayerWriter<W> {
    /// A writer emitting to `w`.
    pub fn new(w: W, opts: TarOptions) -> LayerWriter<W> {
        LayerWriter {
            w,
            opts,
            emitted: HashSet::new(),
            links: HashMap::new(),
            skipped: Vec::new(),
        }
    }

    /// Container paths that [`write_paths`]/[`write_tree`] skipped because a
    /// tar cannot hold them (sockets).
    pub fn skipped(&self) -> &[PathBuf] {
        &self.skipped
    }

    /// True if an entry with this normalized relative path was written.
    pub fn was_emitted(&self, path: &str) -> bool {
        norm(path.as_bytes()).is_ok_and(|p| self.emitted.contains(&p))
    }

    /// Append one entry. `path` is relative (no leading `/`; a leading `/` or
    /// `./` is stripped, `..` is refused). For [`EntryKind::File`], `content`
    /// must yield exactly `size` bytes; it is ignored for other kinds.
    pub fn add_entry(
        &mut self,
        path: &str,
        meta: &EntryMeta,
        kind: EntryKind,
        content: Option<&mut dyn Read>,
    ) -> Result<()> {
        self.add_entry_path(Path::new(path), meta, kind, content)
    }

    /// [`LayerWriter::add_entry`] for paths that need not be UTF-8.
    pub fn add_entry_path(
        &mut self,
        path: &Path,
        meta: &EntryMeta,
        kind: EntryKind,
        content: Option<&mut dyn Read>,
    ) -> Result<()> {
        let shown = || path.to_string_lossy().into_owned();
        let invalid = |what: String| Error::InvalidEntry {
            path: shown(),
            what,
        };
        let p = norm(path.as_os_str().as_bytes()).map_err(invalid)?;
        let e = Entry::new(&p, &kind).map_err(invalid)?;

        let mut mtime = meta.mtime;
        if let Some(epoch) = self.opts.epoch {
            mtime = mtime.min(epoch);
        }
        let pax = pax_records(&e, meta, mtime).map_err(invalid)?;
        let wr = |e: io::Error| Error::Write {
            path: shown(),
            source: e,
        };
        if !pax.is_empty() {
            self.write_pax(&pax, &p).map_err(wr)?;
        }

        let (uid, gid) = (u64::from(meta.uid), u64::from(meta.gid));
        let h = header_block(&Fields {
            name: &e.name,
            mode: meta.mode,
            uid: if uid > OCTAL_8 { 0 } else { uid },
            gid: if gid > OCTAL_8 { 0 } else { gid },
            size: if e.size > OCTAL_12 { 0 } else { e.size },
            mtime: if (0..=OCTAL_12 as i64).contains(&mtime) {
                mtime
            } else {
                0
            },
            typeflag: e.typeflag,
            link: &e.link,
            dev: e.dev,
        });
        self.w.write_all(&h).map_err(wr)?;

        if let EntryKind::File { size } = kind {
            self.write_content(content, size, &shown())?;
        }
        let key = e.name.strip_suffix(b"/").unwrap_or(&e.name).to_vec();
        self.emitted.insert(key);
        Ok(())
    }

    /// A PAX extended header (records sorted by key) named after the entry's base name.
    fn write_pax(&mut self, pax: &BTreeMap<String, Vec<u8>>, p: &[u8]) -> io::Result<()> {
        let mut body = Vec::new();
        for (k, v) in pax {
            pax_record(&mut body, k, v);
        }
        let mut pname = b"PaxHeaders.0/".to_vec();
        pname.extend_from_slice(base_name(p));
        let ph = header_block(&Fields {
            name: &pname,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: body.len() as u64,
            mtime: 0,
            typeflag: b'x',
            link: b"",
            dev: (0, 0),
        });
        self.w.write_all(&ph)?;
        self.w.write_all(&body)?;
        self.pad(body.len() as u64)
    }

    /// A file's content: exactly `size` bytes from `content`, padded to the block.
    fn write_content(
        &mut self,
        content: Option<&mut dyn Read>,
        size: u64,
        shown: &str,
    ) -> Result<()> {
        if size > 0 {
            let Some(r) = content else {
                return Err(Error::SizeMismatch {
                    path: shown.to_owned(),
                    want: size,
                    got: 0,
                });
            };
            self.copy_exact(r, size, shown)?;
            self.pad(size).map_err(|e| Error::Write {
                path: shown.to_owned(),
                source: e,
            })?;
        } else if let Some(r) = content {
            let mut one = [0u8; 1];
            let n = r.read(&mut one).map_err(|e| Error::ReadContent {
                path: shown.to_owned(),
                source: e,
            })?;
            if n > 0 {
                return Err(Error::SizeMismatch {
                    path: shown.to_owned(),
                    want: 0,
                    got: 1,
                });
            }
        }
        Ok(())
    }

    fn copy_exact(&mut self, r: &mut dyn Read, size: u64, shown: &str) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            let n = match r.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(Error::SizeMismatch {
                        path: shown.into(),
                        want: size,
                        got: size - left,
                    })
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::ReadContent {
                        path: shown.into(),
                        source: e,
                    })
                }
            };
            self.w.write_all(&buf[..n]).map_err(|e| Error::Write {
                path: shown.into(),
                source: e,
            })?;
            left -= n as u64;
        }
        // The reader must be exhausted now.
        loop {
            match r.read(&mut buf[..1]) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    return Err(Error::SizeMismatch {
                        path: shown.into(),
                        want: size,
                        got: size + 1,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::ReadContent {
                        path: shown.into(),
                        source: e,
                    })
                }
            }
        }
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.w.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Write the end-of-archive marker (two zero blocks), flush, and return
    /// the inner writer.
    pub fn finish(mut self) -> Result<W> {
        let wr = |e: io::Error| Error::Write {
            path: "<end of archive>".into(),
            source: e,
        };
        self.w.write_all(&[0u8; 2 * BLOCK]).map_err(wr)?;
        self.w.flush().map_err(wr)?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths() {
        let mut v = Vec::new();
        pax_record(&mut v, "path", b"a");
        assert_eq!(v, b"9 path=a\n");
        let mut v = Vec::new();
        let val = vec![b'x'; 93];
        pax_record(&mut v, "path", &val);
        // 1+4+1+93+1 = 100, plus 3 digits = 103
        assert!(v.starts_with(b"103 path="));
        assert_eq!(v.len(), 103);
    }

    #[test]
    fn norm_rules() {
        assert_eq!(norm(b"/a//./b/").unwrap_or_default(), b"a/b");
        assert!(norm(b"a/../b").is_err());
        assert!(norm(b"./").is_err());
    }

    #[test]
    fn header_checksum_is_octal() {
        let h = header_block(&Fields {
            name: b"a",
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            typeflag: b'0',
            link: b"",
            dev: (0, 0),
        });
        assert_eq!(&h[154..156], b"\0 ");
        assert_eq!(&h[100..108], b"0000644\0");
    }
}
