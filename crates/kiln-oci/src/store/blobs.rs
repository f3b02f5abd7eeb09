//! Content-addressed blobs: `<root>/blobs/sha256/<hex>`, written to a temp
//! file under `<root>/tmp`, verified, fsynced and renamed into place; never
//! edited afterwards. Aligned blocks of zeros are left as holes ([`SparseFile`]): a layer
//! holding a large sparse file costs what its data costs.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use tempfile::TempPath;

use super::in_use::touch;
use super::lock::Mode;
use super::{io_err, sync_dir, Store, StoreError};
use crate::digest::{Digest, DigestWriter};
use crate::holes::HoleReader;
use crate::sparse::SparseFile;

/// A blob being written. Write the content, then [`BlobWriter::commit`];
/// dropping it without committing deletes the temp file.
#[derive(Debug)]
pub struct BlobWriter {
    writer: DigestWriter<BufWriter<SparseFile>>,
    temp: TempPath,
    store: Store,
}

impl BlobWriter {
    /// The temp file being written (for messages).
    pub fn temp_path(&self) -> &std::path::Path {
        &self.temp
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.writer.count()
    }

    /// Verifies the content against `expected` (if given), fsyncs it and
    /// renames it to its content address. Returns the digest and size.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        let BlobWriter {
            writer,
            temp,
            store,
        } = self;
        let (buffered, digest, size) = writer.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| io_err("write", &temp, e.into_error()))?
            .finish()
            .map_err(|e| io_err("set the length of", &temp, e))?;
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(StoreError::DigestMismatch {
                    what: "blob".to_owned(),
                    expected: *expected,
                    actual: digest,
                });
            }
        }
        file.sync_all().map_err(|e| io_err("fsync", &temp, e))?;
        drop(file);
        store.install(temp, &digest)?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl Store {
    /// Renames a verified, fsynced temp file to `blobs/sha256/<hex>`, or if
    /// the blob exists, marks it as used (see [`Store::retain_blob`]).
    fn install(&self, temp: TempPath, digest: &Digest) -> Result<(), StoreError> {
        let dest = self.blob_path(digest);
        let _gc = self.gc_lock(Mode::Shared)?;
        if touch(&dest)? {
            // Same content already present; the temp file is removed on drop.
            return Ok(());
        }
        temp.persist(&dest)
            .map_err(|e| io_err("rename a blob into", &dest, e.error))?;
        sync_dir(&self.blobs_dir())
    }

    /// Starts writing a new blob.
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        let tmp = self.tmp_dir()?;
        let (file, temp) = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&tmp)
            .map_err(|e| io_err("create a temporary file in", &tmp, e))?
            .into_parts();
        Ok(BlobWriter {
            writer: DigestWriter::new(BufWriter::with_capacity(256 << 10, SparseFile::new(file))),
            temp,
            store: self.clone(),
        })
    }

    /// Stores `data` as a blob.
    pub fn put_blob(&self, data: &[u8]) -> Result<(Digest, u64), StoreError> {
        let digest = Digest::of_bytes(data);
        if self.retain_blob(&digest)? {
            return Ok((digest, data.len() as u64));
        }
        let mut w = self.blob_writer()?;
        w.write_all(data).map_err(|e| io_err("write", &w.temp, e))?;
        w.commit(Some(&digest))
    }

    /// True if the blob is present.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Where the blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::BlobNotFound {
                    digest: *digest,
                    path: path.clone(),
                }
            } else {
                io_err("open", &path, e)
            }
        })
    }

    /// Opens a blob for reading from the start, without reading its holes from disk (a
    /// layer holding a sparse file is stored sparse): see [`HoleReader`].
    pub fn blob_reader(&self, digest: &Digest) -> Result<HoleReader, StoreError> {
        let file = self.open_blob(digest)?;
        let size = file
            .metadata()
            .map_err(|e| io_err("stat", &self.blob_path(digest), e))?
            .len();
        Ok(HoleReader::new(file, size))
    }

    /// Size of a blob in bytes.
    pub fn blob_size(&self, digest: &Digest) -> Result<u64, StoreError> {
        let file = self.open_blob(digest)?;
        file.metadata()
            .map(|m| m.len())
            .map_err(|e| io_err("stat", &self.blob_path(digest), e))
    }

    /// Reads a blob of at most `max_bytes`, verifying its digest.
    pub fn read_blob(&self, digest: &Digest, max_bytes: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let file = self.open_blob(digest)?;
        let size = file.metadata().map_err(|e| io_err("stat", &path, e))?.len();
        let too_large = || StoreError::TooLarge {
            what: format!("blob {digest}"),
            size,
            max: max_bytes,
        };
        if size > max_bytes {
            return Err(too_large());
        }
        let bytes = crate::json::read_capped(file, max_bytes)
            .map_err(|e| io_err("read", &path, e))?
            .ok_or_else(too_large)?;
        let actual = Digest::of_bytes(&bytes);
        if actual != *digest {
            return Err(StoreError::DigestMismatch {
                what: format!("stored blob {} (the store is corrupt)", path.display()),
                expected: *digest,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Reads and parses a JSON blob of at most `max_bytes`, verifying its digest.
    pub fn read_blob_json<T: DeserializeOwned>(
        &self,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<T, StoreError> {
        let bytes = self.read_blob(digest, max_bytes)?;
        crate::json::parse(&bytes).map_err(|source| StoreError::Json {
            what: format!("blob {digest}"),
            source,
        })
    }

    /// Copies everything from `reader` into a new blob, verifying `expected`.
    pub fn put_blob_from<R: Read>(
        &self,
        mut reader: R,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), StoreError> {
        let mut w = self.blob_writer()?;
        io::copy(&mut reader, &mut w).map_err(|e| io_err("copy into", &w.temp, e))?;
        w.commit(expected)
    }

    /// Installs a temp file under `<root>/tmp` whose digest the caller has
    /// computed while writing it; it is fsynced here, then renamed.
    pub(crate) fn adopt_temp(&self, temp: TempPath, digest: &Digest) -> Result<(), StoreError> {
        if self.retain_blob(digest)? {
            return Ok(());
        }
        File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_err("fsync", &temp, e))?;
        self.install(temp, digest)
    }
}
