//! A bind of the build context shows what `docker build` would send: the files
//! `.dockerignore` keeps. When the context has ignore patterns, the mount gets a
//! filtered tree of hard links (copies across filesystems) in the build's scratch
//! space; symlinks are recreated as they are (the step resolves them inside its own
//! root) and never followed here.

use kiln_dockerfile::dockerignore::Ignore;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The kept part of `source` (a directory of the context at `rel`, `.` for its root)
/// as a new tree at `dest`.
pub(crate) fn filtered_tree(
    source: &Path,
    rel: &str,
    ignore: &Ignore,
    dest: &Path,
) -> Result<(), String> {
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    let meta = std::fs::symlink_metadata(source).map_err(|e| io("cannot read", source, e))?;
    std::fs::create_dir(dest).map_err(|e| io("cannot create", dest, e))?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(|e| io("cannot set the mode of", dest, e))?;
    let mut entries: Vec<_> = std::fs::read_dir(source)
        .map_err(|e| io("cannot read", source, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| io("cannot read", source, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name_s = name.to_string_lossy();
        let child_rel = if rel == "." {
            name_s.to_string()
        } else {
            format!("{rel}/{name_s}")
        };
        let from = entry.path();
        let to: PathBuf = dest.join(&name);
        let m = std::fs::symlink_metadata(&from).map_err(|e| io("cannot read", &from, e))?;
        let excluded = ignore.excludes(&child_rel);
        if m.is_dir() {
            if excluded && !ignore.may_include_below(&child_rel) {
                continue;
            }
            filtered_tree(&from, &child_rel, ignore, &to)?;
            continue;
        }
        if excluded {
            continue;
        }
        if m.file_type().is_symlink() {
            let target = std::fs::read_link(&from).map_err(|e| io("cannot read", &from, e))?;
            std::os::unix::fs::symlink(target, &to).map_err(|e| io("cannot create", &to, e))?;
        } else if m.is_file() && std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|e| io("cannot copy", &from, e))?;
        }
    }
    Ok(())
}
