//! Compressing (or recompressing) a layer for pushing: the blob is decompressed, its
//! uncompressed digest checked against the diff-id, and compressed again into a new blob
//! in the store.

use crate::error::{RegistryError, Result};
use kiln_oci::compression::{self, Compression};
use kiln_oci::media;
use kiln_oci::{Digest, DigestReader, LayerRef, Store};
use std::io::{self, Read};

/// gzip level (the usual default, as docker and containers/image use).
const GZIP_LEVEL: u32 = 6;
/// zstd level (zstd's default).
const ZSTD_LEVEL: i32 = 3;

/// The compression of a stored layer (by media type, else by its first bytes).
pub(crate) fn compression_of(store: &Store, layer: &LayerRef) -> Result<Compression> {
    if let Some(c) = media::layer_compression(&layer.media_type) {
        return Ok(c);
    }
    let mut head = [0u8; 6];
    let mut f = store.open_blob(&layer.digest)?;
    let n = f.read(&mut head).map_err(|source| RegistryError::Io {
        action: "read",
        path: store.blob_path(&layer.digest),
        source,
    })?;
    Ok(Compression::detect(head.get(..n).unwrap_or(&[])))
}

/// The layer media type for `c` in an OCI (`oci` true) or Docker manifest. kiln pushes
/// layers plain, gzip or zstd only (the targets `--compression` and cache specs allow; a
/// stored xz or bzip2 layer is recompressed), so xz and bzip2 are refused here.
pub(crate) fn layer_media_type(c: Compression, oci: bool, layer: &Digest) -> Result<&'static str> {
    media::layer_media_type(c, oci).ok_or(RegistryError::NoMediaType {
        digest: *layer,
        compression: c,
    })
}

/// Writes `layer` compressed with `target` into the store; returns the new layer.
pub(crate) fn recompress(
    store: &Store,
    layer: &LayerRef,
    from: Compression,
    target: Compression,
    oci: bool,
) -> Result<LayerRef> {
    let fail = |source: io::Error| RegistryError::Recompress {
        digest: layer.digest,
        source,
    };
    let media_type = layer_media_type(target, oci, &layer.digest)?;
    let blob = store.open_blob(&layer.digest)?;
    let blob = io::BufReader::with_capacity(256 << 10, blob);
    let codec = |source: compression::CompressionError| RegistryError::Compression {
        digest: layer.digest,
        source,
    };
    let plain = compression::decoder(from, blob).map_err(codec)?;
    let mut plain = DigestReader::new(plain);
    let writer = store.blob_writer()?;
    let writer = match target {
        Compression::Gzip => {
            let mut enc = compression::gzip_writer(writer, GZIP_LEVEL);
            io::copy(&mut plain, &mut enc).map_err(fail)?;
            enc.finish().map_err(fail)?
        }
        Compression::Zstd => {
            let mut enc = compression::zstd_writer(writer, ZSTD_LEVEL).map_err(codec)?;
            io::copy(&mut plain, &mut enc).map_err(fail)?;
            enc.finish().map_err(fail)?
        }
        // Plain; xz and bzip2 never get here (no media type, refused above).
        Compression::None | Compression::Xz | Compression::Bzip2 => {
            let mut w = writer;
            io::copy(&mut plain, &mut w).map_err(fail)?;
            w
        }
    };
    let (_, diff_id, _) = plain.finish();
    if diff_id != layer.diff_id {
        return Err(RegistryError::LayerCorrupt {
            digest: layer.digest,
            expected: layer.diff_id,
            actual: diff_id,
        });
    }
    let (digest, size): (Digest, u64) = writer.commit(None)?;
    Ok(LayerRef {
        digest,
        size,
        media_type: media_type.to_owned(),
        diff_id: layer.diff_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A stored xz layer (under a media type kiln does not know, so sniffed) is pushed as
    /// gzip: no manifest can name xz. A target without a media type is refused.
    #[test]
    fn xz_layers_are_recompressed_to_gzip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        let plain = b"layer tar bytes ".repeat(500);
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
        enc.write_all(&plain).expect("xz");
        let xz = enc.finish().expect("xz finish");
        let (digest, size) = store.put_blob(&xz).expect("put");
        let layer = LayerRef {
            digest,
            size,
            media_type: "application/x-xz".into(),
            diff_id: Digest::of_bytes(&plain),
        };
        let have = compression_of(&store, &layer).expect("sniff");
        assert_eq!(have, Compression::Xz);
        let sent = recompress(&store, &layer, have, Compression::Gzip, true).expect("recompress");
        assert_eq!(sent.media_type, media::OCI_LAYER_TAR_GZIP);
        assert_eq!(sent.diff_id, layer.diff_id);
        let blob = store.open_blob(&sent.digest).expect("open");
        let (c, mut r) = compression::decompress(blob).expect("decompress");
        assert_eq!(c, Compression::Gzip);
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        assert_eq!(out, plain);
        let err = recompress(&store, &layer, have, Compression::Bzip2, true).expect_err("bzip2");
        assert!(
            err.to_string().contains("--compression gzip or zstd"),
            "{err}"
        );
    }
}
