//! Sizes of an image, and the readers and writers that count bytes and gzip sizes.

use std::io::{self, Read, Write};

/// Layer count and bytes of an image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    pub layers: usize,
    /// Compressed bytes (gzip level 6 for layers stored uncompressed).
    pub compressed: u64,
    /// Bytes of the layer tars.
    pub uncompressed: u64,
}

/// A reader that counts the bytes through it and, for a plain tar, what gzip makes of them.
pub(super) struct Counted<R> {
    inner: R,
    bytes: u64,
    gz: Option<GzCount<io::Sink>>,
}

impl<R: Read> Counted<R> {
    pub(super) fn new(inner: R, gzip: bool) -> Self {
        Counted {
            inner,
            bytes: 0,
            gz: gzip.then(|| GzCount::new(io::sink())),
        }
    }

    /// Bytes read, and their gzip size (0 when not measured).
    pub(super) fn finish(self) -> (u64, u64) {
        let gz = self.gz.and_then(|g| g.finish().ok()).map_or(0, |(_, n)| n);
        (self.bytes, gz)
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if let Some(gz) = &mut self.gz {
            gz.measure(&buf[..n])?;
        }
        Ok(n)
    }
}

/// A writer that passes bytes on and measures their gzip size.
pub(super) struct GzCount<W> {
    inner: W,
    gz: flate2::write::GzEncoder<ByteCount>,
}

impl<W: Write> GzCount<W> {
    pub(super) fn new(inner: W) -> Self {
        GzCount {
            inner,
            gz: kiln_oci::compression::gzip_writer(ByteCount(0), 6),
        }
    }

    fn measure(&mut self, buf: &[u8]) -> io::Result<()> {
        self.gz.write_all(buf)
    }

    pub(super) fn finish(self) -> io::Result<(W, u64)> {
        let count = self.gz.finish()?;
        Ok((self.inner, count.0))
    }
}

impl<W: Write> Write for GzCount<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.gz.write_all(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts bytes written to nowhere.
struct ByteCount(u64);

impl Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
