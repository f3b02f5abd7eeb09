//! Writing files that keep long runs of zeros as holes.
//!
//! A step that runs `truncate -s 4G /f` makes a 4 GiB file that costs nothing on disk. Its
//! layer tar holds 4 GiB of zeros (kiln writes plain ustar/PAX tars, never GNU or PAX
//! sparse headers, so every OCI tool reads its layers), and written out naively every
//! copy of it (the layer blob, the unpacked layer, an export) would cost 4 GiB. A
//! [`SparseFile`] seeks over every [`HOLE_BLOCK`]-aligned block of zeros instead of writing
//! it, so those copies cost what the data costs; reading them back gives the same bytes.

use std::borrow::Borrow;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// Size and alignment of the zero blocks left as holes (the common page and file system
/// block size; smaller zero runs are written).
pub const HOLE_BLOCK: usize = 4096;

static ZEROS: [u8; HOLE_BLOCK] = [0u8; HOLE_BLOCK];

/// A [`Write`] over a file, positioned from offset 0, that skips aligned blocks of zeros
/// (writes of any size and alignment; a partial block waits for the next write).
/// Call [`SparseFile::finish`] at the end: it writes the last partial block and gives a
/// file ending in zeros its length. The file must be empty when it is handed over (holes
/// read as zeros only in a new file).
#[derive(Debug)]
pub struct SparseFile<F: Borrow<File> = File> {
    file: F,
    /// Bytes handed to the file so far (holes included); a multiple of [`HOLE_BLOCK`]
    /// until `finish`.
    pos: u64,
    /// End of the last range actually written to the file.
    written_end: u64,
    /// The bytes after `pos`: less than one block.
    pending: Vec<u8>,
}

impl<F: Borrow<File>> SparseFile<F> {
    /// Writes into the empty file `file`, from offset 0.
    pub fn new(file: F) -> SparseFile<F> {
        SparseFile {
            file,
            pos: 0,
            written_end: 0,
            pending: Vec::with_capacity(HOLE_BLOCK),
        }
    }

    /// Bytes written (holes included).
    pub fn len(&self) -> u64 {
        self.pos + self.pending.len() as u64
    }

    /// True if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the last partial block, sets the file's length to what was written (a
    /// trailing hole has none yet) and returns the file.
    pub fn finish(mut self) -> io::Result<F> {
        let last = std::mem::take(&mut self.pending);
        if last.iter().any(|b| *b != 0) {
            self.write_at(&last, self.pos)?;
        }
        self.pos += last.len() as u64;
        if self.written_end < self.pos {
            self.file.borrow().set_len(self.pos)?;
        }
        Ok(self.file)
    }

    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.file.borrow().write_all_at(data, offset)?;
        self.written_end = self.written_end.max(offset + data.len() as u64);
        Ok(())
    }

    /// Writes whole blocks at `pos` (aligned): runs of data at once, zero blocks skipped.
    fn put_blocks(&mut self, blocks: &[u8]) -> io::Result<()> {
        let start = self.pos;
        let mut data_from = 0usize;
        for (n, block) in blocks.chunks_exact(HOLE_BLOCK).enumerate() {
            if block == ZEROS.as_slice() {
                let i = n * HOLE_BLOCK;
                self.write_at(&blocks[data_from..i], start + data_from as u64)?;
                data_from = i + HOLE_BLOCK;
            }
        }
        self.write_at(&blocks[data_from..], start + data_from as u64)?;
        self.pos += blocks.len() as u64;
        Ok(())
    }
}

impl<F: Borrow<File>> Write for SparseFile<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        if !self.pending.is_empty() {
            let take = (HOLE_BLOCK - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() < HOLE_BLOCK {
                return Ok(buf.len());
            }
            let block = std::mem::take(&mut self.pending);
            self.put_blocks(&block)?;
            self.pending = block;
            self.pending.clear();
        }
        let whole = rest.len() / HOLE_BLOCK * HOLE_BLOCK;
        self.put_blocks(&rest[..whole])?;
        self.pending.extend_from_slice(&rest[whole..]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    fn write_in_pieces(pieces: &[&[u8]]) -> (Vec<u8>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut w = SparseFile::new(File::create(&path).unwrap());
        for p in pieces {
            w.write_all(p).unwrap();
        }
        let f = w.finish().unwrap();
        f.sync_all().unwrap();
        let mut back = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut back).unwrap();
        (back, std::fs::metadata(&path).unwrap().blocks() * 512)
    }

    #[test]
    fn zeros_become_holes_and_read_back_the_same() {
        let mut content = vec![0u8; 64 << 20];
        content[100] = 1; // data in the first block
        content[(32 << 20) + 5] = 2; // one block of data in the middle
                                     // Unaligned pieces, as a buffered writer hands them over.
        let pieces: Vec<&[u8]> = content.chunks(3 * 1000 + 7).collect();
        let (back, used) = write_in_pieces(&pieces);
        assert_eq!(back, content, "content changed");
        assert!(used < 1 << 20, "64 MiB of mostly zeros used {used} bytes");
    }

    #[test]
    fn trailing_zeros_keep_the_length_and_data_is_written() {
        let mut content = b"header".to_vec();
        content.resize(3 * HOLE_BLOCK + 17, 0);
        let (back, _) = write_in_pieces(&[&content]);
        assert_eq!(back, content);
        // Control: data without zero blocks is written whole.
        let data = vec![7u8; 5 * HOLE_BLOCK + 3];
        let (back, used) = write_in_pieces(&[&data[..10], &data[10..]]);
        assert_eq!(back, data);
        assert!(used >= data.len() as u64);
    }
}
