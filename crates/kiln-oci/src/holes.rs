//! Reading a sparse file's content without reading its holes from disk.
//!
//! A layer tar stores every byte of a file (kiln writes no GNU or PAX sparse headers, so
//! every OCI tool reads its layers); a file's holes are still zeros in the tar, and a layer
//! blob holding them is itself sparse (see [`crate::sparse`]). Reading a 4 GiB hole through
//! `read` makes the kernel zero 4 GiB of page cache and copy it; [`HoleReader`] asks where
//! the data is (`SEEK_DATA`/`SEEK_HOLE`) and fills the holes with zeros itself. File
//! systems without those answer "all data", and the file is read as usual.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use rustix::fs::SeekFrom;
use rustix::io::Errno;

/// What lies at the reader's position, up to `end`.
#[derive(Debug, Clone, Copy)]
enum Region {
    Data { end: u64 },
    Hole { end: u64 },
}

/// Reads a regular file from offset 0, filling holes with zeros without reading them.
/// `size` is the length the caller expects (from its stat): up to it holes are zeros;
/// past it the file is read as usual, so a file that grew is still noticed.
#[derive(Debug)]
pub struct HoleReader {
    file: File,
    size: u64,
    pos: u64,
    /// The region at `pos`; `None` when not asked yet.
    region: Option<Region>,
}

impl Region {
    fn end(self) -> u64 {
        match self {
            Region::Data { end } | Region::Hole { end } => end,
        }
    }
}

/// Files smaller than this are read whole: their holes cost little to read, and most
/// layers are many small files, each of which would pay two `lseek`s.
const SMALL_FILE: u64 = 1 << 20;

impl HoleReader {
    /// Reads `file` (a regular file expected to be `size` bytes long) from offset 0.
    pub fn new(file: File, size: u64) -> HoleReader {
        HoleReader {
            file,
            size,
            pos: 0,
            region: (size < SMALL_FILE).then_some(Region::Data { end: u64::MAX }),
        }
    }

    /// The region at `pos` (which is below `size`).
    fn locate(&self) -> io::Result<Region> {
        match rustix::fs::seek(&self.file, SeekFrom::Data(self.pos)) {
            Ok(data) if data > self.pos => Ok(Region::Hole {
                end: data.min(self.size),
            }),
            Ok(_) => match rustix::fs::seek(&self.file, SeekFrom::Hole(self.pos)) {
                Ok(hole) if hole > self.pos => Ok(Region::Data { end: hole }),
                // Raced with a change of the file: read it.
                Ok(_) => Ok(Region::Data { end: u64::MAX }),
                Err(e) => Err(e.into()),
            },
            // No data after `pos`: a hole up to the end.
            Err(Errno::NXIO) => Ok(Region::Hole { end: self.size }),
            // SEEK_DATA not supported here: everything is data.
            Err(Errno::INVAL | Errno::OPNOTSUPP) => Ok(Region::Data { end: u64::MAX }),
            Err(e) => Err(e.into()),
        }
    }
}

impl Read for HoleReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.size {
            let n = self.file.read_at(buf, self.pos)?;
            self.pos += n as u64;
            return Ok(n);
        }
        let region = match self.region {
            Some(r) if self.pos < r.end() => r,
            _ => {
                let r = self.locate()?;
                self.region = Some(r);
                r
            }
        };
        let n = match region {
            Region::Hole { end } => {
                let n = (end - self.pos).min(buf.len() as u64) as usize;
                buf[..n].fill(0);
                n
            }
            Region::Data { end } => {
                let want = (end - self.pos).min(buf.len() as u64) as usize;
                self.file.read_at(&mut buf[..want], self.pos)?
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::{Seek, Write};

    #[test]
    fn holes_read_as_zeros_and_data_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = File::create(&path).unwrap();
        f.set_len(64 << 20).unwrap();
        f.seek(io::SeekFrom::Start(10 << 20)).unwrap();
        f.write_all(b"middle").unwrap();
        f.seek(io::SeekFrom::Start((64 << 20) - 3)).unwrap();
        f.write_all(b"end").unwrap();
        drop(f);
        let want = std::fs::read(&path).unwrap();
        let mut got = Vec::new();
        let mut r = HoleReader::new(File::open(&path).unwrap(), want.len() as u64);
        assert!(r.region.is_none(), "a large file's holes are looked up");
        // Odd buffer sizes, as the tar writer's reads may be.
        let mut buf = vec![0u8; 100_003];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got.len(), want.len());
        assert!(got == want, "content differs");
    }

    #[test]
    fn a_file_longer_than_expected_is_read_past_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abcdef").unwrap();
        let mut got = Vec::new();
        HoleReader::new(File::open(&path).unwrap(), 3)
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, b"abcdef");
    }
}
