//! Files the VM tier keeps under the store (`STORE/vm`): the unpacked kernel, the
//! initramfs and the acceleration probe's answer, each named by a digest of its inputs and
//! written whole (a temp file renamed into place), so a crash leaves no half file.

use crate::VmError;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub(crate) fn digest_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A name for what is made from the files `inputs`: `head`, then each file's path, size,
/// modification time and inode (a file replaced or rebuilt gives another name, without
/// reading it).
pub(crate) fn stat_key(head: &str, inputs: &[&Path]) -> String {
    let mut text = head.to_string();
    for p in inputs {
        let m = std::fs::metadata(p).ok();
        let (size, mtime, ino) = m.map_or((0, 0, 0), |m| (m.size(), m.mtime(), m.ino()));
        text.push_str(&format!("{} {size} {mtime} {ino}\n", p.display()));
    }
    digest_hex(text.as_bytes())
}

pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), VmError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| VmError::io("creating", dir, e))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| VmError::io("writing in", dir, e))?;
    tmp.write_all(data)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| VmError::io("writing", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| VmError::io("writing", path, e.error))?;
    Ok(())
}

/// How long an unused file of an earlier kiln or kernel stays (a build that started with
/// it may still be booting from it).
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Remove the files named `prefix*` in `dir` other than `keep` that were not written or
/// read for [`STALE_AFTER`] (the initramfs of a kiln since rebuilt or upgraded).
pub(crate) fn remove_stale(dir: &Path, prefix: &str, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let named = e.file_name().to_string_lossy().starts_with(prefix);
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if named && old && p != keep {
            let _ = std::fs::remove_file(&p);
        }
    }
}
