//! Files the VM tier keeps under the store (`STORE/vm`): the unpacked kernel, the
//! initramfs and the acceleration probe's answer, each named by a digest of its inputs and
//! written whole (a temp file renamed into place), so a crash leaves no half file.

use crate::VmError;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

pub(crate) fn digest_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
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
