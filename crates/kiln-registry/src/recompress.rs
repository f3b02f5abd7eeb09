//! Compressing (or recompressing) a layer for pushing: the blob is decompressed, its
//! uncompressed digest checked against the diff-id, and compressed again into a new blob
//! in the store.

use crate::error::{RegistryError, Result};
use kiln_oci::media::{self, Compression};
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
    let mut head = [0u8; 4];
    let mut f = store.open_blob(&layer.digest)?;
    let n = f.read(&mut head).map_err(|source| RegistryError::Io {
        action: "read",
        path: store.blob_path(&layer.digest),
        source,
    })?;
    Ok(media::sniff_compression(head.get(..n).unwrap_or(&[])))
}

/// The layer media type for `c` in an OCI (`oci` true) or Docker manifest.
pub(crate) fn layer_media_type(c: Compression, oci: bool) -> &'static str {
    match (c, oci) {
        (Compression::None, true) => media::OCI_LAYER_TAR,
        (Compression::Gzip, true) => media::OCI_LAYER_TAR_GZIP,
        (Compression::Zstd, _) => media::OCI_LAYER_TAR_ZSTD,
        (Compression::None, false) => media::DOCKER_LAYER_TAR,
        (Compression::Gzip, false) => media::DOCKER_LAYER_GZIP,
    }
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
    let blob = store.open_blob(&layer.digest)?;
    let blob = io::BufReader::with_capacity(256 << 10, blob);
    let plain: Box<dyn Read> = match from {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(blob).map_err(fail)?)
        }
    };
    let mut plain = DigestReader::new(plain);
    let writer = store.blob_writer()?;
    let writer = match target {
        Compression::None => {
            let mut w = writer;
            io::copy(&mut plain, &mut w).map_err(fail)?;
            w
        }
        Compression::Gzip => {
            let mut enc =
                flate2::write::GzEncoder::new(writer, flate2::Compression::new(GZIP_LEVEL));
            io::copy(&mut plain, &mut enc).map_err(fail)?;
            enc.finish().map_err(fail)?
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(writer, ZSTD_LEVEL).map_err(fail)?;
            io::copy(&mut plain, &mut enc).map_err(fail)?;
            enc.finish().map_err(fail)?
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
        media_type: layer_media_type(target, oci).to_owned(),
        diff_id: layer.diff_id,
    })
}
