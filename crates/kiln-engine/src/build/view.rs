//! A read-only view of a stack of layers: their unpacked copies in the store (made once
//! per layer and shared) as the lower directories of a read-only overlay mount. COPY reads
//! its destination and `/etc/passwd` from it, and `COPY --from` reads a stage or image
//! from it, so neither has to unpack a whole root filesystem (a Debian base is hundreds
//! of megabytes) into scratch space for every build.

use super::error::BuildError;
use super::layer::store_err;
use super::run::StorageDriver;
use super::state::BuildState;
use kiln_layer::snapshot::OverlaySnapshot;
use kiln_layer::Root;
use kiln_oci::LayerRef;

/// Does a layer have a directory where a layer below it has a symlink? Extracting the
/// layers one after the other (what a materialised root does) writes through such a link;
/// an overlay shows the directory instead. Only images made by hand have such layers; they
/// get a materialised root, so both ways agree. `lowers` is bottom first.
fn shadows_a_link(lowers: &[std::path::PathBuf]) -> bool {
    let roots: Vec<Option<Root>> = lowers.iter().map(|l| Root::open(l).ok()).collect();
    for (i, upper) in roots.iter().enumerate().skip(1) {
        let Some(upper) = upper else { return true };
        let Ok(entries) = upper.walk("/") else {
            return true;
        };
        for (path, meta) in entries {
            if meta.kind != kiln_layer::Kind::Dir || path.as_os_str() == "/" {
                continue;
            }
            for lower in roots[..i].iter().flatten() {
                if matches!(lower.lstat(&path), Ok(Some(m)) if m.kind == kiln_layer::Kind::Symlink)
                {
                    return true;
                }
            }
        }
    }
    false
}

/// The mounted view; unmounted and removed on drop.
#[derive(Debug)]
pub struct LayerView {
    // Declared first: the directory handle is closed before the unmount.
    pub root: Root,
    _mount: OverlaySnapshot,
    _dir: tempfile::TempDir,
}

/// A view of `layers`, or `None` where overlayfs is not used (`--storage-driver vfs`) or
/// there is nothing to see (no layers): the caller then uses a materialised root.
pub fn of(cx: &BuildState<'_>, layers: &[LayerRef]) -> Result<Option<LayerView>, BuildError> {
    if cx.spec.storage_driver != StorageDriver::Overlay || layers.is_empty() {
        return Ok(None);
    }
    let lowers = crate::snapshot::unpack_layers(cx.services.store, layers)
        .map_err(|e| store_err(cx.services.store, e))?;
    if shadows_a_link(&lowers) {
        return Ok(None);
    }
    let lowers = super::run::topmost_once(lowers);
    let io =
        |what: &str, e: super::error::Source| super::layer::store_io(cx.services.store, what, e);
    let dir = tempfile::Builder::new()
        .prefix("view-")
        .tempdir_in(cx.services.scratch)
        .map_err(|e| io("cannot make a directory for a layer view", e.into()))?;
    let mount = OverlaySnapshot::mount_readonly(&lowers, dir.path())
        .map_err(|e| io("cannot mount a read-only view of the layers", e.into()))?;
    let root = Root::open(dir.path()).map_err(|e| io("cannot open the layer view", e.into()))?;
    Ok(Some(LayerView {
        root,
        _mount: mount,
        _dir: dir,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_over_a_lower_symlink_is_found() {
        let d = tempfile::tempdir().expect("dir");
        let (lower, upper) = (d.path().join("l"), d.path().join("u"));
        std::fs::create_dir_all(lower.join("etc")).expect("mkdir");
        std::os::unix::fs::symlink("/etc", lower.join("link")).expect("symlink");
        std::fs::create_dir_all(upper.join("etc/sub")).expect("mkdir");
        let layers = [lower.clone(), upper.clone()];
        assert!(!shadows_a_link(&layers), "directories over directories");
        std::fs::create_dir_all(upper.join("link/inside")).expect("mkdir");
        assert!(shadows_a_link(&layers));
        assert!(!shadows_a_link(&[upper, lower]), "only lower links count");
    }
}
