//! Member names: cleaned into components, shown in messages, turned into container paths.

use super::*;

pub(super) fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Clean a member name; `Err(())` if it climbs above the root.
pub(super) fn clean_name(name: &[u8]) -> std::result::Result<Vec<Vec<u8>>, ()> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(());
                }
            }
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

/// The container path (`/a/b`) of path components; `/` for none.
pub(crate) fn cpath(comps: &[Vec<u8>]) -> PathBuf {
    let mut s = Vec::new();
    for c in comps {
        s.push(b'/');
        s.extend_from_slice(c);
    }
    if s.is_empty() {
        s.push(b'/');
    }
    PathBuf::from(OsString::from_vec(s))
}

pub(super) fn under(p: &[Vec<u8>], prefix: &[Vec<u8>]) -> bool {
    p.len() >= prefix.len() && p[..prefix.len()] == *prefix
}
