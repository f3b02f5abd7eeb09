//! `images.json`: the list of images and their names, rewritten atomically
//! (temp file + fsync + rename) while the store lock is held.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{io_err, IndexProblem, StoreError, StoredImage};
use crate::digest::Digest;
use crate::reference::Reference;

/// Largest `images.json` accepted (about 100k images).
const MAX_INDEX_BYTES: u64 = 64 << 20;

/// One entry of `images.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) manifest: Digest,
    pub(crate) config: Digest,
    pub(crate) names: Vec<String>,
    pub(crate) created: String,
}

impl Record {
    pub(crate) fn to_stored(&self, path: &Path) -> Result<StoredImage, StoreError> {
        let names = self
            .names
            .iter()
            .map(|n| {
                Reference::parse_normalized(n).map_err(|e| StoreError::CorruptIndex {
                    path: path.to_owned(),
                    problem: IndexProblem::BadName {
                        name: n.clone(),
                        source: Box::new(e),
                    },
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StoredImage {
            manifest: self.manifest,
            config: self.config,
            names,
            created: self.created.clone(),
        })
    }
}

/// Reads `images.json`; a missing file is an empty store.
pub(crate) fn read(path: &Path) -> Result<Vec<Record>, StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("open", path, e)),
    };
    let bytes = crate::json::read_capped(file, MAX_INDEX_BYTES)
        .map_err(|e| io_err("read", path, e))?
        .ok_or_else(|| StoreError::CorruptIndex {
            path: path.to_owned(),
            problem: IndexProblem::TooLarge {
                max: MAX_INDEX_BYTES,
            },
        })?;
    crate::json::parse(&bytes).map_err(|e| StoreError::CorruptIndex {
        path: path.to_owned(),
        problem: IndexProblem::Json(e),
    })
}

/// Atomically replaces `images.json` with `records`.
pub(crate) fn write(path: &Path, tmp_dir: &Path, records: &[Record]) -> Result<(), StoreError> {
    let mut bytes = serde_json::to_vec_pretty(records).map_err(|e| StoreError::CorruptIndex {
        path: path.to_owned(),
        problem: IndexProblem::Serialise(e),
    })?;
    bytes.push(b'\n');
    let mut temp = tempfile::Builder::new()
        .prefix("images-")
        .suffix(".json")
        .tempfile_in(tmp_dir)
        .map_err(|e| io_err("create a temporary file in", tmp_dir, e))?;
    temp.write_all(&bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| io_err("write", temp.path(), e))?;
    temp.persist(path)
        .map_err(|e| io_err("replace", path, e.error))?;
    if let Some(dir) = path.parent() {
        super::sync_dir(dir)?;
    }
    Ok(())
}
