//! One 512-byte header block: numeric fields, checksum, the member it describes.

use std::collections::BTreeMap;

use super::error::{corrupt, TarError};

pub(super) const BLOCK: u64 = 512;

/// One archive member, extension headers applied.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// Member name as written (prefix, GNU long name or PAX `path` applied).
    pub name: Vec<u8>,
    /// Link target (GNU long link or PAX `linkpath` applied).
    pub link: Vec<u8>,
    /// Tar type flag (`0` file, `5` directory, `2` symlink, ...).
    pub typeflag: u8,
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Content size.
    pub size: u64,
    /// Modification time: seconds and nanoseconds.
    pub mtime: (i64, u32),
    /// Device major number (character and block devices).
    pub devmajor: u32,
    /// Device minor number.
    pub devminor: u32,
    /// Extended attributes from PAX `SCHILY.xattr.*` records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// PAX keys that ask for features we do not support (e.g. GNU sparse).
    pub unsupported_pax: Option<String>,
    /// Byte offset of the member's header in the archive.
    pub offset: u64,
}

pub(super) fn cstr(field: &[u8]) -> &[u8] {
    match field.iter().position(|b| *b == 0) {
        Some(i) => &field[..i],
        None => field,
    }
}

/// Parse a numeric header field: octal (space/NUL padded) or GNU base-256.
pub(super) fn num(field: &[u8]) -> Option<i64> {
    if let Some(&first) = field.first() {
        if first & 0x80 != 0 {
            let inv: u8 = if first & 0x40 != 0 { 0xff } else { 0 };
            let mut x: u64 = 0;
            for (i, &c) in field.iter().enumerate() {
                let mut c = c ^ inv;
                if i == 0 {
                    c &= 0x7f;
                }
                if x >> 56 != 0 {
                    return None;
                }
                x = (x << 8) | u64::from(c);
            }
            if x >> 63 != 0 {
                return None;
            }
            let x = x as i64;
            return Some(if inv == 0xff { !x } else { x });
        }
    }
    let s: &[u8] = {
        let mut s = field;
        while let [b' ' | 0, rest @ ..] = s {
            s = rest;
        }
        while let [rest @ .., b' ' | 0] = s {
            s = rest;
        }
        s
    };
    let mut v: i64 = 0;
    for &c in s {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(v)
}

/// The header's checksum, as unsigned or (old tars) signed bytes.
pub(super) fn check_checksum(h: &[u8; BLOCK as usize], at: u64) -> Result<(), TarError> {
    let stored = num(&h[148..156]).ok_or_else(|| corrupt(at, "bad header checksum field"))?;
    let mut unsigned: i64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    if stored != unsigned && stored != signed {
        return Err(corrupt(
            at,
            "header checksum mismatch (not a tar archive, or damaged)",
        ));
    }
    Ok(())
}

/// The member a (checked) ustar/GNU header describes, before extensions apply.
pub(super) fn entry_from_header(
    h: &[u8; BLOCK as usize],
    at: u64,
    size: u64,
) -> Result<RawEntry, TarError> {
    let typeflag = h[156];
    let magic = &h[257..263];
    let is_posix = magic == b"ustar\0";
    let mut name = cstr(&h[0..100]).to_vec();
    if is_posix {
        let prefix = cstr(&h[345..500]);
        if !prefix.is_empty() {
            let mut n = prefix.to_vec();
            n.push(b'/');
            n.extend_from_slice(&name);
            name = n;
        }
    }
    let link = cstr(&h[157..257]).to_vec();
    let mode = num(&h[100..108]).ok_or_else(|| corrupt(at, "bad mode field"))?;
    let uid = num(&h[108..116]).ok_or_else(|| corrupt(at, "bad uid field"))?;
    let gid = num(&h[116..124]).ok_or_else(|| corrupt(at, "bad gid field"))?;
    let mtime = num(&h[136..148]).ok_or_else(|| corrupt(at, "bad mtime field"))?;
    let (devmajor, devminor) = if matches!(typeflag, b'3' | b'4') {
        (
            num(&h[329..337]).ok_or_else(|| corrupt(at, "bad devmajor field"))?,
            num(&h[337..345]).ok_or_else(|| corrupt(at, "bad devminor field"))?,
        )
    } else {
        (0, 0)
    };
    Ok(RawEntry {
        name,
        link,
        typeflag,
        mode: (mode & 0o7777) as u32,
        uid: u64::try_from(uid).map_err(|_| corrupt(at, "negative uid"))?,
        gid: u64::try_from(gid).map_err(|_| corrupt(at, "negative gid"))?,
        size,
        mtime: (mtime, 0),
        devmajor: u32::try_from(devmajor).map_err(|_| corrupt(at, "device major out of range"))?,
        devminor: u32::try_from(devminor).map_err(|_| corrupt(at, "device minor out of range"))?,
        xattrs: BTreeMap::new(),
        unsupported_pax: None,
        offset: at,
    })
}

/// Bytes of padding after a body of `size` bytes.
pub(super) fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// Does `block` (the first 512 bytes of a stream) look like a tar header? The stored
/// checksum must match, as GNU tar and Go's archive/tar check it.
pub fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 || block[..512].iter().all(|b| *b == 0) {
        return false;
    }
    let field = &block[148..156];
    let text: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| *b as char)
        .collect();
    let Ok(stored) = u32::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let sum: u32 = block[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == stored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(b"0000644\0"), Some(0o644));
        assert_eq!(num(b"   644 \0"), Some(0o644));
        assert_eq!(num(b"\0\0\0\0"), Some(0));
        assert_eq!(num(b"12x"), None);
        assert_eq!(num(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(num(&[0xff; 8]), Some(-1));
        assert_eq!(
            num(&[0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }
}
