//! Stream compression, the one home for it in kiln: detection by magic bytes, decoders
//! (multi-member gzip, multi-frame zstd, multi-stream xz and bzip2) and the deterministic
//! gzip and zstd encoders. Layers, ADD archives, `kiln import`, docker-archives, pushes and
//! cache exports all go through here.

use std::io::{self, Cursor, Read, Write};

/// Compression of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Not compressed (plain tar).
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// Zstandard (`28 b5 2f fd`).
    Zstd,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// bzip2 (`BZh`).
    Bzip2,
}

impl Compression {
    /// Suffix of the OCI layer media type: `""`, `"+gzip"`, `"+zstd"`.
    /// xz and bzip2 have no OCI layer media type; `"+xz"` and `"+bzip2"`
    /// are returned for messages only and must not be used in manifests
    /// (recompress such layers).
    pub fn media_type_suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => "+gzip",
            Compression::Zstd => "+zstd",
            Compression::Xz => "+xz",
            Compression::Bzip2 => "+bzip2",
        }
    }

    /// Lower-case name ("none", "gzip", ...).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        }
    }

    /// True if an OCI layer media type exists for it (none, gzip, zstd).
    pub fn is_layer_compression(self) -> bool {
        matches!(
            self,
            Compression::None | Compression::Gzip | Compression::Zstd
        )
    }

    /// Detect from the first bytes of a stream (6 are enough).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if is_bzip2(head) {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }
}

/// `BZh`, a block size digit, then the start of a block (`1AY&SY`) or of the end-of-stream
/// marker (`0x177245`): `BZh` alone is also how a plain tar whose first file is called
/// `BZh...` starts.
fn is_bzip2(head: &[u8]) -> bool {
    match head {
        [b'B', b'Z', b'h', level, rest @ ..] if (b'1'..=b'9').contains(level) => {
            rest.starts_with(&[0x31, 0x41]) || rest.starts_with(&[0x17, 0x72])
        }
        _ => false,
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Compression errors.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    /// Reading the first bytes of the stream failed.
    #[error("reading the start of the stream to detect its compression: {source}; {hint}", hint = hint(.source))]
    Probe {
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Setting up a decoder or encoder failed.
    #[error("setting up {what}: {source}; {hint}", hint = hint(.source))]
    Codec {
        /// Which codec ("zstd decoder", ...).
        what: &'static str,
        /// Cause.
        #[source]
        source: io::Error,
    },
}

impl CompressionError {
    /// The class of the failure: a stream that ends early or holds bad data while its
    /// start is read is Rejected; any other read failure, or a codec that could not start
    /// (memory), is I/O. A stream that is corrupt further on fails while it is read, and
    /// its reader's caller classifies that.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            CompressionError::Probe { source } => match source.kind() {
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::InvalidData
                | io::ErrorKind::InvalidInput => crate::ErrorKind::Rejected,
                _ => crate::ErrorKind::Io,
            },
            CompressionError::Codec { .. } => crate::ErrorKind::Io,
        }
    }
}

/// What to do about an I/O error of a compressed stream.
fn hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "the input ended early; it is truncated or corrupt",
        io::ErrorKind::OutOfMemory => "kiln ran out of memory; free some and try again",
        _ => "check that the input is readable and try again",
    }
}

/// A reader of `r` decompressed as `c`: multi-member gzip, multi-frame zstd,
/// multi-stream xz and bzip2 are read to the end; `None` passes `r` through.
pub fn decoder<'a>(
    c: Compression,
    r: impl Read + 'a,
) -> Result<Box<dyn Read + 'a>, CompressionError> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => {
            Box::new(
                zstd::stream::read::Decoder::new(r).map_err(|e| CompressionError::Codec {
                    what: "zstd decoder",
                    source: e,
                })?,
            )
        }
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(r)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
    })
}

/// Detect the compression of `r` by its magic bytes and return a reader of
/// the decompressed stream (see [`decoder`]). A stream shorter than a magic
/// number is taken as plain.
pub fn decompress<'a>(
    mut r: impl Read + 'a,
) -> Result<(Compression, Box<dyn Read + 'a>), CompressionError> {
    let mut head = [0u8; 6];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CompressionError::Probe { source: e }),
        }
    }
    let c = Compression::detect(&head[..n]);
    let stream = Cursor::new(head[..n].to_vec()).chain(r);
    Ok((c, decoder(c, stream)?))
}

/// A gzip compressor with a deterministic header (no name, mtime 0, OS
/// "unknown"); `level` 0–9. Call `finish()` on it when done.
pub fn gzip_writer<W: Write>(w: W, level: u32) -> flate2::write::GzEncoder<W> {
    flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(w, flate2::Compression::new(level.min(9)))
}

/// A single-threaded (hence deterministic) zstd compressor with frame
/// checksums; `level` 1–22 (0 = zstd's default). Call `finish()` on it when done.
pub fn zstd_writer<W: Write>(
    w: W,
    level: i32,
) -> Result<zstd::stream::write::Encoder<'static, W>, CompressionError> {
    let codec = |e| CompressionError::Codec {
        what: "zstd encoder",
        source: e,
    };
    let mut enc = zstd::stream::write::Encoder::new(w, level).map_err(codec)?;
    enc.include_checksum(true).map_err(codec)?;
    Ok(enc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(c: Compression, data: &[u8]) -> Vec<u8> {
        match c {
            Compression::Gzip => {
                let mut w = gzip_writer(Vec::new(), 6);
                w.write_all(data).expect("gzip");
                w.finish().expect("gzip finish")
            }
            Compression::Zstd => {
                let mut w = zstd_writer(Vec::new(), 3).expect("zstd");
                w.write_all(data).expect("zstd");
                w.finish().expect("zstd finish")
            }
            _ => data.to_vec(),
        }
    }

    fn read_all(mut r: impl Read) -> Vec<u8> {
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        out
    }

    /// The archive and registry paths: a known compression decoded by [`decoder`],
    /// borrowing the stream.
    #[test]
    fn decoder_reads_what_the_writers_wrote() {
        let data = b"layer bytes ".repeat(1000);
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let enc = encode(c, &data);
            assert_eq!(Compression::detect(&enc), c);
            let mut src = enc.as_slice();
            assert_eq!(
                read_all(decoder(c, &mut src).expect("decoder")),
                data,
                "{c}"
            );
        }
    }

    /// The layer paths: detection by magic bytes, two gzip members read to the end.
    #[test]
    fn decompress_detects_and_reads_every_member() {
        let data = b"abc".repeat(100);
        let mut two = encode(Compression::Gzip, &data);
        two.extend(encode(Compression::Gzip, &data));
        let (c, r) = decompress(two.as_slice()).expect("decompress");
        assert_eq!(c, Compression::Gzip);
        assert_eq!(read_all(r), [data.clone(), data].concat());
        let (c, r) = decompress(&b"ab"[..]).expect("short");
        assert_eq!((c, read_all(r)), (Compression::None, b"ab".to_vec()));
    }

    #[test]
    fn layer_compressions_and_names() {
        assert!(Compression::Zstd.is_layer_compression());
        assert!(!Compression::Xz.is_layer_compression());
        assert_eq!(Compression::Bzip2.to_string(), "bzip2");
        assert_eq!(
            Compression::detect(&[0xfd, b'7', b'z', b'X', b'Z', 0]),
            Compression::Xz
        );
        assert_eq!(Compression::detect(b"BZh91AY&SY"), Compression::Bzip2);
        assert_eq!(Compression::detect(b"BZh9\x17\x72"), Compression::Bzip2);
        // A plain tar whose first file is called BZhello.
        assert_eq!(Compression::detect(b"BZhello\0\0\0"), Compression::None);
        assert_eq!(Compression::detect(b"BZh"), Compression::None);
    }

    #[test]
    fn truncated_gzip_is_an_error_not_a_panic() {
        let enc = encode(Compression::Gzip, &b"x".repeat(10_000));
        let cut = &enc[..enc.len() / 2];
        let (_, mut r) = decompress(cut).expect("probe");
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
    }
}
