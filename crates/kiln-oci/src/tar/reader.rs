//! The streaming reader: headers, extension headers under their caps, member content.

use std::io::{self, Read};

use super::error::{corrupt, truncated, TarError};
use super::header::{check_checksum, cstr, entry_from_header, num, padding, RawEntry, BLOCK};
use super::pax::{apply_pax, parse_pax};
use super::{MAX_LONGNAME, MAX_PAX};

/// Reads a tar stream member by member; see the module documentation for its limits.
#[derive(Debug)]
pub struct TarReader<R: Read> {
    r: R,
    offset: u64,
    /// Content bytes of the current member not yet read.
    remaining: u64,
    /// Padding after the current member's content.
    pad: u64,
    done: bool,
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

impl<R: Read> TarReader<R> {
    /// A reader at the start of the stream `r`.
    pub fn new(r: R) -> Self {
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
    fn read_full(&mut self, buf: &mut [u8]) -> Result<bool, TarError> {
        let mut got = 0;
        while got < buf.len() {
            match self.r.read(&mut buf[got..]) {
                Ok(0) => {
                    if got == 0 {
                        return Ok(false);
                    }
                    return Err(truncated(self.offset + got as u64));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(TarError::Read {
                        offset: self.offset + got as u64,
                        source: e,
                    })
                }
            }
        }
        self.offset += buf.len() as u64;
        Ok(true)
    }

    fn skip(&mut self, mut n: u64) -> Result<(), TarError> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            if !self.read_full(&mut buf[..k])? {
                return Err(truncated(self.offset));
            }
            n -= k as u64;
        }
        Ok(())
    }

    fn read_body(
        &mut self,
        size: u64,
        limit: u64,
        what: &str,
        at: u64,
    ) -> Result<Vec<u8>, TarError> {
        if size > limit {
            return Err(corrupt(
                at,
                format!("{what} is {size} bytes, more than the limit of {limit}"),
            ));
        }
        let mut buf = vec![0u8; size as usize];
        if !self.read_full(&mut buf)? {
            return Err(truncated(self.offset));
        }
        self.skip(padding(size))?;
        Ok(buf)
    }

    /// Skip what is left of the current member.
    fn finish_member(&mut self) -> Result<(), TarError> {
        let n = self.remaining + self.pad;
        self.remaining = 0;
        self.pad = 0;
        self.skip(n)
    }

    /// The next real member, or `None` at the end of the archive.
    pub fn next_entry(&mut self) -> Result<Option<RawEntry>, TarError> {
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
    ) -> Result<bool, TarError> {
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
    pub fn content(&mut self) -> Content<'_, R> {
        Content { tr: self }
    }
}

/// Content of the current member; errors with `UnexpectedEof` if the
/// archive ends early.
#[derive(Debug)]
pub struct Content<'a, R: Read> {
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
