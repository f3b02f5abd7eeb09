//! Step-cache records as garbage-collection roots.
//!
//! The step cache keeps one JSON record per cached step in
//! `<root>/cache/steps/<hex>.json`. For the store only two fields matter:
//! `blobs` (every blob the record needs: each is kept by `kiln prune` and
//! checked by `kiln store verify`) and `last_used` (RFC 3339, for dropping the
//! least recently used records). Other fields are ignored; a store without a
//! step cache has no records. Writers write records as dot files and rename
//! them into place; a build that reuses a record's blobs marks them with
//! [`Store::retain_blob`](super::Store::retain_blob) (a prune may otherwise
//! remove them between the hit and the image being recorded, if the record
//! itself is pruned meanwhile).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::{Store, StoreError};
use crate::digest::Digest;

use super::paths::STEPS as STEPS_DIR;
/// A writer's temp file older than this belongs to a process that ended (a write takes
/// milliseconds).
const STALE_TEMP_AFTER: Duration = Duration::from_secs(3600);
/// Largest record read.
const MAX_RECORD_BYTES: u64 = 4 << 20;

/// One step-cache record, as far as garbage collection cares: its roots.
#[derive(Debug, Clone)]
pub struct StepRoots {
    /// The record file.
    pub path: PathBuf,
    /// Blobs it needs.
    pub blobs: Vec<Digest>,
    /// When it was last used (from `last_used`, else the file's mtime).
    pub last_used: SystemTime,
    /// Size of the record file.
    pub bytes: u64,
}

/// A record that cannot be read as one.
#[derive(Debug, Clone)]
pub struct BadStepRecord {
    /// The record file.
    pub path: PathBuf,
    /// Why it is unusable.
    pub reason: String,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    blobs: Vec<String>,
    #[serde(default)]
    last_used: Option<String>,
}

/// All step-cache records (none if the directory does not exist), and those
/// that do not parse.
pub(crate) fn read_all(root: &Path) -> Result<(Vec<StepRoots>, Vec<BadStepRecord>), StoreError> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (name, path) in super::list_dir(&root.join(STEPS_DIR))? {
        // Dot files are records being written (temp + rename); see [`stale_temps`].
        if name.starts_with('.') || path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        match read_one(&path) {
            Ok(Some(r)) => good.push(r),
            // Removed meanwhile (a concurrent prune).
            Ok(None) => {}
            Err(reason) => bad.push(BadStepRecord { path, reason }),
        }
    }
    Ok((good, bad))
}

/// Whether a store writer's temp file last written at `modified` was left by a process
/// that ended without renaming it: older than an hour.
pub(crate) fn writer_gone(modified: SystemTime, now: SystemTime) -> bool {
    now.duration_since(modified)
        .is_ok_and(|age| age > STALE_TEMP_AFTER)
}

/// Temp files of record writers that ended without renaming them: dot files in
/// the records directory older than an hour.
pub(crate) fn stale_temps(root: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let now = SystemTime::now();
    Ok(super::list_dir(&root.join(STEPS_DIR))?
        .into_iter()
        .filter(|(name, path)| {
            name.starts_with('.')
                && fs::symlink_metadata(path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| writer_gone(t, now))
        })
        .map(|(_, path)| path)
        .collect())
}

fn read_one(path: &Path) -> Result<Option<StepRoots>, String> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open: {e}")),
    };
    let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    let bytes = crate::json::read_capped(file, MAX_RECORD_BYTES)
        .map_err(|e| format!("cannot read: {e}"))?
        .ok_or_else(|| format!("larger than {MAX_RECORD_BYTES} bytes"))?;
    let raw: Raw = serde_json::from_slice(&bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let blobs = raw
        .blobs
        .iter()
        .map(|b| Digest::parse(b).map_err(|e| format!("bad blob digest {b:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let last_used = match raw.last_used.as_deref() {
        Some(s) => crate::time::parse_rfc3339(s)
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
            .ok_or_else(|| format!("bad last_used {s:?}: not an RFC 3339 time"))?,
        None => meta.modified().unwrap_or(UNIX_EPOCH),
    };
    Ok(Some(StepRoots {
        path: path.to_owned(),
        blobs,
        last_used,
        bytes: meta.len(),
    }))
}

impl Store {
    /// The step-cache records, and those that cannot be read.
    pub fn step_records(&self) -> Result<(Vec<StepRoots>, Vec<BadStepRecord>), StoreError> {
        read_all(self.root())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_records_and_tolerates_absence_and_unknown_fields() {
        let t = tempfile::tempdir().unwrap();
        assert!(read_all(t.path()).unwrap().0.is_empty());
        let dir = t.path().join(STEPS_DIR);
        fs::create_dir_all(&dir).unwrap();
        let d = Digest::of_bytes(b"x");
        fs::write(
            dir.join("a.json"),
            format!(r#"{{"key":"k","blobs":["{d}"],"created":"2020-01-01T00:00:00Z","last_used":"2021-01-01T00:00:00Z","extra":1}}"#),
        )
        .unwrap();
        fs::write(dir.join("b.json"), b"{not json").unwrap();
        fs::write(dir.join("c.json"), br#"{"blobs":["sha256:zz"]}"#).unwrap();
        fs::write(dir.join("ignored.tmp"), b"").unwrap();
        fs::write(dir.join(".tmp-abc.json"), b"{half").unwrap();
        let (good, bad) = read_all(t.path()).unwrap();
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].blobs, vec![d]);
        assert_eq!(
            good[0].last_used,
            UNIX_EPOCH + Duration::from_secs(1_609_459_200)
        );
        assert_eq!(bad.len(), 2);
        assert!(bad[1].reason.contains("bad blob digest"), "{:?}", bad[1]);
    }
}
