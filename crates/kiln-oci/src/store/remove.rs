//! Removing store entries safely.
//!
//! Directory trees are removed only when no mount lies inside them: a build
//! killed in the middle of a step may have left an overlay mounted (when it
//! ran without a private mount namespace), and deleting through a mount would
//! reach outside the entry. Such an entry is reported instead.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{io_err, StoreError};

/// Where `/proc/self/mountinfo` lives; a parameter for tests.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Removes `path` (a file, or a directory tree with no mount inside).
/// `Ok(false)` if it did not exist.
pub(crate) fn remove_tree(path: &Path) -> Result<bool, StoreError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err("stat", path, e)),
    };
    if !meta.is_dir() {
        return match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("remove", path, e)),
        };
    }
    let text = fs::read_to_string(MOUNTINFO).unwrap_or_default();
    let abs = fs::canonicalize(path).map_err(|e| io_err("resolve", path, e))?;
    if let Some(mount) = mounts_under(&text, &abs).into_iter().next() {
        return Err(StoreError::MountInside {
            path: path.to_owned(),
            mount,
        });
    }
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("remove", path, e)),
    }
}

/// Mount points in `mountinfo` text at or below `dir`.
fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|mount| mount.starts_with(dir))
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const INFO: &str = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
        90 27 0:50 / /store/tmp/1-a/work-x/run-y/merged rw - overlay kiln rw\n\
        91 27 0:51 / /store/tmp/my\\040dir rw - tmpfs tmpfs rw\n";

    #[test]
    fn finds_mounts_below_a_directory_only() {
        assert_eq!(
            mounts_under(INFO, Path::new("/store/tmp/1-a")),
            vec![PathBuf::from("/store/tmp/1-a/work-x/run-y/merged")]
        );
        assert!(mounts_under(INFO, Path::new("/store/tmp/1-ab")).is_empty());
        assert_eq!(
            mounts_under(INFO, Path::new("/store/tmp/my dir")),
            vec![PathBuf::from("/store/tmp/my dir")]
        );
    }

    #[test]
    fn removes_files_and_trees_and_reports_absence() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        fs::create_dir_all(d.join("a/b")).unwrap();
        fs::write(d.join("a/b/f"), b"x").unwrap();
        assert!(remove_tree(&d).unwrap());
        assert!(!d.exists());
        assert!(!remove_tree(&d).unwrap());
        let f = t.path().join("f");
        fs::write(&f, b"x").unwrap();
        assert!(remove_tree(&f).unwrap());
    }
}
