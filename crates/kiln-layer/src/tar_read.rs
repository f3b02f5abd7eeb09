//! Streaming tar reader with hard limits, for hostile input.
//!
//! Understands ustar (with `prefix`), GNU (`L`/`K` long names, base-256
//! numbers), v7, and PAX (`x` local headers; `g` global headers are read and
//! ignored). Extension headers are size-limited so a hostile archive cannot
//! make the reader allocate much memory. Sparse files and other exotic types
//! are reported as such; the caller decides.

use std::collections::BTreeMap;
use std::io::{self, Read};

use crate::extract::Error;

const BLOCK: u64 = 512;
/// Largest PAX extended header accepted (local or global).
pub(crate) const MAX_PAX: u64 = 1 << 20;
/// Largest GNU long name / long link accepted.
pub(crate) const MAX_LONGNAME: u64 = 64 * 1024;

/// One archive member, extension headers applied.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: (i64, u32),
    pub devmajor: u32,
    pub devminor: u32,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// PAX keys that ask for features we do not support (e.g. GNU sparse).
    pub unsupported_pax: Option<String>,
    /// Byte offset of the member's header in the archive.
    pub offset: u64,
}

pub(crate) struct TarReader<R: Read> {
    r: R,
    offset: u64,
    /// Content bytes of the current member not yet read.
    remaining: u64,
    /// Padding after the current member's content.
    pad: u64,
    done: bool,
}

fn corrupt(offset: u64, what: impl Into<String>) -> Error {
    Error::Corrupt {
        offset,
        what: what.into(),
    }
}

fn cstr(field: &[u8]) -> &[u8] {
    match field.iter().position(|b| *b == 0) {
        Some(i) => &field[..i],
        None => field,
    }
}

/// Parse a numeric header field: octal (space/NUL padded) or GNU base-256.
fn num(field: &[u8]) -> Option<i64> {
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

fn parse_pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sec: i64 = secs.parse().ok()?;
    let mut ns: u32 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        ns += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    if neg {
        if ns > 0 {
            Some((-sec - 1, 1_000_000_000 - ns))
        } else {
            Some((-sec, 0))
        }
    } else {
        Some((sec, ns))
    }
}

fn parse_pax(buf: &[u8], offset: u64) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        // GNU tar pads the last record with NULs in some versions.
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let sp = rest
            .iter()
            .position(|b| *b == b' ')
            .ok_or_else(|| corrupt(offset, "PAX record without length"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| corrupt(offset, "PAX record with a bad length"))?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(corrupt(
                offset,
                "PAX record length does not match its content",
            ));
        }
        let rec = &rest[sp + 1..len - 1];
        let eq = rec
            .iter()
            .position(|b| *b == b'=')
            .ok_or_else(|| corrupt(offset, "PAX record without '='"))?;
        let key = String::from_utf8(rec[..eq].to_vec())
            .map_err(|_| corrupt(offset, "PAX record key is not UTF-8"))?;
        out.push((key, rec[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    Ok(out)
}

/// Extension headers read before the member they apply to.
#[derive(Default)]
struct Extensions {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<(String, Vec<u8>)>>,
}

impl Extensions {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }
}

/// The header's checksum, as unsigned or (old tars) signed bytes.
fn check_checksum(h: &[u8; BLOCK as usize], at: u64) -> Result<(), Error> {
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
fn entry_from_header(h: &[u8; BLOCK as usize], at: u64, size: u64) -> Result<RawEntry, Error> {
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

/// PAX records override the header's fields; xattrs are kept, sparse files flagged.
fn apply_pax(e: &mut RawEntry, pax: Vec<(String, Vec<u8>)>, at: u64) -> Result<(), Error> {
    for (k, v) in pax {
        let dec = |v: &[u8]| -> Result<u64, Error> {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| corrupt(at, format!("PAX {k} is not a number")))
        };
        match k.as_str() {
            "path" if !v.is_empty() => e.name = v,
            "linkpath" if !v.is_empty() => e.link = v,
            "size" => e.size = dec(&v)?,
            "uid" => e.uid = dec(&v)?,
            "gid" => e.gid = dec(&v)?,
            "mtime" => {
                e.mtime =
                    parse_pax_time(&v).ok_or_else(|| corrupt(at, "PAX mtime is not a number"))?;
            }
            _ => {
                if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                    e.xattrs.insert(x.to_string(), v);
                } else if k.starts_with("GNU.sparse.") {
                    e.unsupported_pax = Some(k.clone());
                }
            }
        }
    }
    Ok(())
}

impl<R: Read> TarReader<R> {
    pub(crate) fn new(r: R) -> Self {
        TarReader {
            r,
            offset: 0,
            remaining: 0,
            pad: 0,
            done: false,
        }
    }

    /// Read exactly `buf.len()` bytes; `Ok(false)` on a clean EOF before the
    /// first byte.
    fn read_full(&mut self, buf: &mut [u8]) -> Result<bool, Error> {
        let mut got = 0;
        while got < buf.len() {
            match self.r.read(&mut buf[got..]) {
                Ok(0) => {
                    if got == 0 {
                        return Ok(false);
                    }
                    return Err(Error::Read {
                        offset: self.offset + got as u64,
                        source: io::ErrorKind::UnexpectedEof.into(),
                    });
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::Read {
                        offset: self.offset + got as u64,
                        source: e,
                    })
                }
            }
        }
        self.offset += buf.len() as u64;
        Ok(true)
    }

    fn skip(&mut self, mut n: u64) -> Result<(), Error> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            if !self.read_full(&mut buf[..k])? {
                return Err(Error::Read {
                    offset: self.offset,
                    source: io::ErrorKind::UnexpectedEof.into(),
                });
            }
            n -= k as u64;
        }
        Ok(())
    }

    fn read_body(&mut self, size: u64, limit: u64, what: &str, at: u64) -> Result<Vec<u8>, Error> {
        if size > limit {
            return Err(corrupt(
                at,
                format!("{what} is {size} bytes, more than the limit of {limit}"),
            ));
        }
        let mut buf = vec![0u8; size as usize];
        if !self.read_full(&mut buf)? {
            return Err(Error::Read {
                offset: self.offset,
                source: io::ErrorKind::UnexpectedEof.into(),
            });
        }
        self.skip(padding(size))?;
        Ok(buf)
    }

    /// Skip what is left of the current member.
    fn finish_member(&mut self) -> Result<(), Error> {
        let n = self.remaining + self.pad;
        self.remaining = 0;
        self.pad = 0;
        self.skip(n)
    }

    /// The next real member, or `None` at the end of the archive.
    pub(crate) fn next_entry(&mut self) -> Result<Option<RawEntry>, Error> {
        self.finish_member()?;
        if self.done {
            return Ok(None);
        }
        let mut ext = Extensions::default();
        loop {
            let at = self.offset;
            let mut h = [0u8; BLOCK as usize];
            if !self.read_full(&mut h)? || h.iter().all(|b| *b == 0) {
                if !ext.is_empty() {
                    return Err(corrupt(at, "archive ends after an extension header"));
                }
                self.done = true;
                return Ok(None);
            }
            check_checksum(&h, at)?;
            let typeflag = h[156];
            let size_hdr = num(&h[124..136]).ok_or_else(|| corrupt(at, "bad size field"))?;
            if size_hdr < 0 {
                return Err(corrupt(at, "negative size"));
            }
            let size_hdr = size_hdr as u64;
            if self.read_extension(typeflag, size_hdr, at, &mut ext)? {
                continue;
            }
            let mut e = entry_from_header(&h, at, size_hdr)?;
            if let Some(n) = ext.long_name {
                e.name = n;
            }
            if let Some(l) = ext.long_link {
                e.link = l;
            }
            apply_pax(&mut e, ext.pax.unwrap_or_default(), at)?;
            // Only regular files carry content we read; every other member's
            // declared size is skipped (hard links may carry data in PAX).
            self.remaining = e.size;
            self.pad = padding(e.size);
            return Ok(Some(e));
        }
    }

    /// Read the body of an extension header (GNU long name or link, PAX) into `ext`;
    /// false when `typeflag` is not one.
    fn read_extension(
        &mut self,
        typeflag: u8,
        size: u64,
        at: u64,
        ext: &mut Extensions,
    ) -> Result<bool, Error> {
        match typeflag {
            b'L' => {
                let mut v = self.read_body(size, MAX_LONGNAME, "GNU long name", at)?;
                v.truncate(cstr(&v).len());
                ext.long_name = Some(v);
            }
            b'K' => {
                let mut v = self.read_body(size, MAX_LONGNAME, "GNU long link name", at)?;
                v.truncate(cstr(&v).len());
                ext.long_link = Some(v);
            }
            b'x' => {
                let body = self.read_body(size, MAX_PAX, "PAX header", at)?;
                let recs = parse_pax(&body, at)?;
                ext.pax.get_or_insert_with(Vec::new).extend(recs);
            }
            b'g' => {
                let body = self.read_body(size, MAX_PAX, "PAX global header", at)?;
                parse_pax(&body, at)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Reader over the current member's content.
    pub(crate) fn content(&mut self) -> Content<'_, R> {
        Content { tr: self }
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// Content of the current member; errors with `UnexpectedEof` if the
/// archive ends early.
pub(crate) struct Content<'a, R: Read> {
    tr: &'a mut TarReader<R>,
}

impl<R: Read> Read for Content<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tr.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let k = (buf.len() as u64).min(self.tr.remaining) as usize;
        let n = self.tr.r.read(&mut buf[..k])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends in the middle of a file",
            ));
        }
        self.tr.remaining -= n as u64;
        self.tr.offset += n as u64;
        Ok(n)
    }
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

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time(b"12"), Some((12, 0)));
        assert_eq!(parse_pax_time(b"12.5"), Some((12, 500_000_000)));
        assert_eq!(parse_pax_time(b"-1.25"), Some((-2, 750_000_000)));
        assert_eq!(parse_pax_time(b"1.x"), None);
        assert_eq!(parse_pax_time(b""), None);
    }

    #[test]
    fn pax_records() {
        let r = parse_pax(b"9 path=a\n", 0).unwrap_or_default();
        assert_eq!(r, vec![("path".to_string(), b"a".to_vec())]);
        assert!(parse_pax(b"99 path=a\n", 0).is_err());
        assert!(parse_pax(b"x path=a\n", 0).is_err());
        assert!(parse_pax(b"3 \n", 0).is_err());
    }
}
