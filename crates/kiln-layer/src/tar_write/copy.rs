//! A layer written again from a layer tar (the changes a guest VM sent): each entry is
//! read by the hardened tar reader, checked, and written by [`LayerWriter`], so what
//! reaches the store is this writer's own deterministic form, whatever the input's
//! encoding. Member types a layer cannot hold, unknown PAX records and ids over 32 bits
//! are refused; `.wh.` names become whiteout and opaque entries.

use super::*;
use kiln_oci::tar::{RawEntry, TarReader};

const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
/// Longest path or link target taken: what a step can make (PATH_MAX), so a hostile tar's
/// long PAX names cannot make the writer hold megabytes per entry.
const MAX_PATH: usize = 4096;

/// Copy every entry of the tar `r` into `w`.
pub fn copy_layer<R: Read, W: Write>(r: R, w: &mut LayerWriter<W>) -> Result<()> {
    let mut tr = TarReader::new(r);
    while let Some(e) = tr.next_entry().map_err(|e| Error::InvalidEntry {
        path: String::new(),
        what: format!("the tar is not readable: {e}"),
    })? {
        let (path, kind) = kind_of(&e)?;
        let meta = meta_of(&e)?;
        let path = Path::new(std::ffi::OsStr::from_bytes(&path));
        if let EntryKind::File { .. } = kind {
            let mut content = tr.content();
            w.add_entry_path(path, &meta, kind, Some(&mut content))?;
        } else {
            w.add_entry_path(path, &meta, kind, None)?;
        }
    }
    Ok(())
}

fn invalid(e: &RawEntry, what: &str) -> Error {
    Error::InvalidEntry {
        path: String::from_utf8_lossy(&e.name).into_owned(),
        what: what.to_string(),
    }
}

/// The entry's path and kind (whiteouts by their `.wh.` names).
fn kind_of(e: &RawEntry) -> Result<(Vec<u8>, EntryKind)> {
    if e.name.len() > MAX_PATH || e.link.len() > MAX_PATH {
        return Err(invalid(
            e,
            "a path or link target over 4096 bytes (PATH_MAX)",
        ));
    }
    let name = e.name.strip_suffix(b"/").unwrap_or(&e.name).to_vec();
    let (parent, base) = match name.iter().rposition(|b| *b == b'/') {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => (&b""[..], &name[..]),
    };
    if let Some(rest) = base.strip_prefix(WHITEOUT) {
        if e.size != 0 || !matches!(e.typeflag, b'0' | 0) {
            return Err(invalid(e, "a whiteout must be an empty regular file"));
        }
        if base == OPAQUE {
            return Ok((parent.to_vec(), EntryKind::Opaque));
        }
        let mut target = parent.to_vec();
        if !target.is_empty() {
            target.push(b'/');
        }
        target.extend_from_slice(rest);
        return Ok((target, EntryKind::Whiteout));
    }
    let link = || PathBuf::from(std::ffi::OsStr::from_bytes(&e.link));
    let kind = match e.typeflag {
        b'0' | 0 => EntryKind::File { size: e.size },
        b'5' => EntryKind::Dir,
        b'2' => EntryKind::Symlink { target: link() },
        b'1' => EntryKind::Hardlink { target: link() },
        b'3' => EntryKind::Char {
            major: e.devmajor,
            minor: e.devminor,
        },
        b'4' => EntryKind::Block {
            major: e.devmajor,
            minor: e.devminor,
        },
        b'6' => EntryKind::Fifo,
        t => {
            return Err(invalid(
                e,
                &format!("member type {:?} has no place in a layer", t as char),
            ))
        }
    };
    Ok((name, kind))
}

fn meta_of(e: &RawEntry) -> Result<EntryMeta> {
    if let Some(key) = &e.unsupported_pax {
        return Err(invalid(e, &format!("an unsupported PAX record {key:?}")));
    }
    let id = |v: u64| u32::try_from(v).map_err(|_| invalid(e, "an owner id over 32 bits"));
    Ok(EntryMeta {
        mode: e.mode & 0o7777,
        uid: id(e.uid)?,
        gid: id(e.gid)?,
        mtime: e.mtime.0,
        xattrs: e
            .xattrs
            .iter()
            .filter(|(k, _)| keep_xattr(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
        let mut m = EntryMeta {
            mode: 0o4755,
            uid: 7,
            gid: 8,
            mtime: 100,
            ..EntryMeta::default()
        };
        m.xattrs.insert("user.k".into(), b"v".to_vec());
        w.add_entry("d", &m, EntryKind::Dir, None).unwrap();
        w.add_entry("d", &m, EntryKind::Opaque, None).unwrap();
        let mut c: &[u8] = b"hello";
        w.add_entry("d/f", &m, EntryKind::File { size: 5 }, Some(&mut c))
            .unwrap();
        let hl = EntryKind::Hardlink {
            target: "d/f".into(),
        };
        w.add_entry("d/h", &m, hl, None).unwrap();
        let sl = EntryKind::Symlink {
            target: "../x".into(),
        };
        w.add_entry("d/s", &m, sl, None).unwrap();
        w.add_entry("gone", &m, EntryKind::Whiteout, None).unwrap();
        w.add_entry("d/p", &m, EntryKind::Fifo, None).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn a_copy_is_byte_identical_and_the_epoch_still_applies() {
        let tar = sample();
        let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
        copy_layer(&tar[..], &mut w).unwrap();
        assert_eq!(w.finish().unwrap(), tar);
        let mut w = LayerWriter::new(Vec::new(), TarOptions { epoch: Some(50) });
        copy_layer(&tar[..], &mut w).unwrap();
        assert_ne!(w.finish().unwrap(), tar, "mtimes are clamped again");
    }

    #[test]
    fn hostile_members_are_refused() {
        let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
        w.add_entry("p", &EntryMeta::default(), EntryKind::Fifo, None)
            .unwrap();
        let mut tar = w.finish().unwrap();
        // The same member as a "contiguous file" ('7'), a type no layer holds.
        tar[156] = b'7';
        let sum: u32 = tar[..512]
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(*b)
                }
            })
            .sum();
        tar[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
        let e = copy_layer(&tar[..], &mut w).unwrap_err().to_string();
        assert!(e.contains("has no place in a layer"), "{e}");
        let mut garbage = b"not a tar at all".to_vec();
        garbage.resize(1024, b'x');
        let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
        let e = copy_layer(&garbage[..], &mut w).unwrap_err().to_string();
        assert!(e.contains("not readable"), "{e}");
    }
}
