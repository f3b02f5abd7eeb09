//! Compression detection by magic bytes, and deterministic compressors.

use std::io::{self, Cursor, Read, Write};

use kiln_oci::ErrorKind;

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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

    /// Detect from the first bytes of a stream (6 are enough).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Compression errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the first bytes of the stream failed.
    #[error("reading the start of the stream to detect its compression: {source}; {hint}", hint = crate::root::hint(.source))]
    Probe {
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Setting up a decoder or encoder failed.
    #[error("setting up {what}: {source}; {hint}", hint = crate::root::hint(.source))]
    Codec {
        /// Which codec ("zstd decoder", ...).
        what: &'static str,
        /// Cause.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The class of this failure, for the exit code: a stream that cannot be read for its
    /// compression is judged by its I/O error (truncated or bad data: [`ErrorKind::Rejected`],
    /// else [`ErrorKind::Io`]); a codec that cannot be set up is [`ErrorKind::Io`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Probe { source } => crate::root::stream_kind(source),
            Error::Codec { .. } => ErrorKind::Io,
        }
    }
}

/// Detect the compression of `r` by its magic bytes and return a reader of
/// the decompressed stream. Multi-member gzip, multi-frame zstd, multi-stream
/// xz and bzip2 are read to the end. A stream shorter than a magic number is
/// taken as plain.
pub fn decompress(mut r: impl Read + 'static) -> Result<(Compression, Box<dyn Read>)> {
    let mut head = [0u8; 6];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Probe { source: e }),
        }
    }
    let c = Compression::detect(&head[..n]);
    let stream = Cursor::new(head[..n].to_vec()).chain(r);
    let out: Box<dyn Read> =
        match c {
            Compression::None => Box::new(stream),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(stream)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(stream).map_err(
                |e| Error::Codec {
                    what: "zstd decoder",
                    source: e,
                },
            )?),
            Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(stream)),
            Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(stream)),
        };
    Ok((c, out))
}

/// A gzip compressor with a deterministic header (no name, mtime 0, OS
/// "unknown"); `level` 0–9. Call `finish()` on it when done.
pub fn gzip_writer<W: Write>(w: W, level: u32) -> flate2::write::GzEncoder<W> {
    flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(w, flate2::Compression::new(level.min(9)))
}

/// A single-threaded (hence deterministic) zstd compressor; `level` 1–22
/// (0 = zstd's default). Call `finish()` on it when done.
pub fn zstd_writer<W: Write>(w: W, level: i32) -> Result<zstd::stream::write::Encoder<'static, W>> {
    let mut enc = zstd::stream::write::Encoder::new(w, level).map_err(|e| Error::Codec {
        what: "zstd encoder",
        source: e,
    })?;
    enc.include_checksum(true).map_err(|e| Error::Codec {
        what: "zstd encoder",
        source: e,
    })?;
    Ok(enc)
}
