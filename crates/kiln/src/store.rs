//! Opening the store named by `--root` (or the default).

use crate::exit::Failure;
use kiln_oci::ErrorKind;
use kiln_oci::Store;
use std::path::PathBuf;

pub fn open(root: &Option<PathBuf>) -> Result<Store, Failure> {
    let dir = root.clone().unwrap_or_else(Store::default_root);
    Store::open(&dir).map_err(|e| {
        Failure::new(
            ErrorKind::Io,
            format!(
                "error: cannot open the store at {}: {e}\n = hint: choose another directory with --root DIR (or $KILN_ROOT)",
                dir.display()
            ),
        )
    })
}

/// A store error as a failure (exit code 3), naming what was being done.
pub fn failure(doing: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(ErrorKind::Io, format!("error: {doing}: {e}"))
}
