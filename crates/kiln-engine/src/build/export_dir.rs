//! Writing an image's root filesystem into a host directory (`-o type=local`, `kiln export`).
//!
//! The layers are hostile and the directory is the user's: the layers are unpacked into a
//! fresh private directory inside the destination first (whiteouts and opaque markers then
//! only remove what earlier layers wrote), and the result is moved into the destination
//! entry by entry. Nothing that was already there is removed except a file or symlink the
//! image replaces; a directory is never replaced by a non-directory. Like `docker build -o`,
//! the export is faithful: owners, setuid/setgid bits, file capabilities and (as root)
//! device nodes are written as the image has them (see docs/SECURITY.md).

use std::fs;
use std::io;
use std::path::Path;

use kiln_layer::Root;
use kiln_oci::{LayerRef, Store};

use super::error::BuildError;
use super::output::out_err;

/// Unpack `layers` into `dir` (created if missing) without deleting what is there.
pub fn export_rootfs(store: &Store, layers: &[LayerRef], dir: &Path) -> Result<(), BuildError> {
    fs::create_dir_all(dir).map_err(|e| out_err(dir, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".kiln-export-")
        .tempdir_in(dir)
        .map_err(|e| out_err(dir, e))?;
    let root = Root::open(staging.path()).map_err(|e| out_err(staging.path(), e))?;
    super::base::unpack_layers(store, layers, &root).map_err(|e| out_err(dir, e))?;
    drop(root);
    move_entries(staging.path(), dir)
}

/// Move every entry of `from` into `to`: directories merge, a file or symlink in `to` is
/// replaced, a directory in `to` is never replaced by a non-directory.
fn move_entries(from: &Path, to: &Path) -> Result<(), BuildError> {
    let mut pending = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((src_dir, dst_dir)) = pending.pop() {
        for entry in fs::read_dir(&src_dir).map_err(|e| out_err(&src_dir, e))? {
            let entry = entry.map_err(|e| out_err(&src_dir, e))?;
            let src = entry.path();
            let dst = dst_dir.join(entry.file_name());
            let src_is_dir = entry.file_type().map_err(|e| out_err(&src, e))?.is_dir();
            match fs::symlink_metadata(&dst) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(out_err(&dst, e)),
                Ok(m) if m.is_dir() && src_is_dir => {
                    // Merge; the image's mode and owner apply to the directory.
                    let meta = fs::symlink_metadata(&src).map_err(|e| out_err(&src, e))?;
                    fs::set_permissions(&dst, meta.permissions()).map_err(|e| out_err(&dst, e))?;
                    pending.push((src, dst));
                    continue;
                }
                Ok(m) if m.is_dir() => {
                    return Err(BuildError::Output {
                        message: format!(
                            "cannot write {}: the image has a file there and the destination a \
                             directory; kiln does not delete directories of the destination \
                             (remove it, or export into an empty directory)",
                            dst.display()
                        ),
                    })
                }
                Ok(_) => fs::remove_file(&dst).map_err(|e| out_err(&dst, e))?,
            }
            fs::rename(&src, &dst).map_err(|e| out_err(&dst, e))?;
        }
    }
    Ok(())
}
