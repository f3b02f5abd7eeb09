//! One pass over a layer blob: each member through the hardened tar reader, into the tree
//! and the per-member checks; the account files kept for the config checks.

use crate::error::AuditError;
use crate::files::{self, Hit};
use crate::tree::Tree;
use kiln_oci::tar::TarReader;
use kiln_oci::{LayerRef, Store};
use std::collections::HashMap;
use std::io::{self, BufReader, Read};

/// Files whose final content the config checks read.
pub const ACCOUNT_FILES: &[&str] = &["etc/passwd", "etc/shadow"];

/// What the pass over all layers gathered.
#[derive(Debug, Default)]
pub struct Walked {
    pub tree: Tree,
    /// (layer, path, hit) of every member check.
    pub hits: Vec<(usize, String, Hit)>,
    /// The last version of each account file: (layer, content when it was read: not a
    /// link, at most 1 MiB).
    pub accounts: HashMap<String, (usize, Option<String>)>,
    /// Uncompressed bytes per layer.
    pub sizes: Vec<u64>,
}

/// Counts what passes through.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

/// Longest member name read (PATH_MAX); kiln's extractor refuses longer ones too.
const MAX_NAME: usize = 4096;

/// The member name as a clean relative path (`./a/b/` -> `a/b`, `a/../b` -> `b`, never
/// above the root), as kiln's extractor places it; `None` for the root.
fn clean(name: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(name);
    let mut parts: Vec<&str> = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl Walked {
    /// Read layer `index` of the image.
    pub fn layer(
        &mut self,
        store: &Store,
        index: usize,
        layer: &LayerRef,
    ) -> Result<(), AuditError> {
        let blob = store
            .open_blob(&layer.digest)
            .map_err(|e| AuditError::store(layer, e))?;
        let (_, plain) = kiln_oci::compression::decompress(BufReader::new(blob))
            .map_err(|e| AuditError::layer(layer, e))?;
        let mut counted = Counted { inner: plain, n: 0 };
        let mut tar = TarReader::new(&mut counted);
        while let Some(e) = tar.next_entry().map_err(|e| AuditError::layer(layer, e))? {
            if e.name.len() > MAX_NAME {
                return Err(AuditError::layer(
                    layer,
                    format!(
                        "a member name of {} bytes (kiln refuses such layers)",
                        e.name.len()
                    ),
                ));
            }
            let Some(path) = clean(&e.name) else { continue };
            if self.whiteout(index, &path) {
                continue;
            }
            self.member(&mut tar, index, layer, &e, path)?;
        }
        // The rest of the stream (the end blocks) counts too.
        io::copy(&mut counted, &mut io::sink()).map_err(|e| AuditError::layer(layer, e))?;
        self.sizes.push(counted.n);
        Ok(())
    }

    /// Apply a whiteout member (true), or say it is none (false). aufs metadata
    /// (`.wh..wh.plnk`, ...) and an empty whiteout name are skipped.
    fn whiteout(&mut self, index: usize, path: &str) -> bool {
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", path));
        if base == ".wh..wh..opq" {
            self.tree.opaque(index, dir);
            return true;
        }
        let Some(gone) = base.strip_prefix(".wh.") else {
            return false;
        };
        if gone.is_empty() || gone.starts_with(".wh.") {
            return true;
        }
        let gone = if dir.is_empty() {
            gone.to_string()
        } else {
            format!("{dir}/{gone}")
        };
        self.tree.delete(index, &gone);
        true
    }

    /// One member that is not a whiteout: into the tree, through the checks.
    fn member<R: Read>(
        &mut self,
        tar: &mut TarReader<R>,
        index: usize,
        layer: &LayerRef,
        e: &kiln_oci::tar::RawEntry,
        path: String,
    ) -> Result<(), AuditError> {
        let regular = matches!(e.typeflag, b'0' | 0 | b'7');
        self.tree
            .add(index, &path, if regular { e.size } else { 0 });
        if e.typeflag != b'5' {
            self.tree.replace_dir(index, &path);
        }
        // A later version of an account file replaces what was read of it, read or not.
        if ACCOUNT_FILES.contains(&path.as_str()) {
            self.accounts.insert(path.clone(), (index, None));
        }
        for h in files::header(e, &path) {
            self.hits.push((index, path.clone(), h));
        }
        let scanned = files::scanned(&path, e.size);
        // A file too large to scan is still read for its first bytes if named like a core.
        if !regular || !(scanned || files::core_named(&path)) {
            return Ok(());
        }
        let limit = if scanned { files::MAX_SCAN } else { 64 };
        let mut data = Vec::with_capacity(e.size.min(limit) as usize);
        tar.content()
            .take(limit)
            .read_to_end(&mut data)
            .map_err(|err| AuditError::layer(layer, err))?;
        if !scanned {
            if let Some(h) = files::core_header(&path, &data) {
                self.hits.push((index, path, h));
            }
            return Ok(());
        }
        if ACCOUNT_FILES.contains(&path.as_str()) {
            let text = String::from_utf8_lossy(&data).into_owned();
            self.accounts.insert(path.clone(), (index, Some(text)));
        }
        for h in files::content(&path, &data) {
            self.hits.push((index, path.clone(), h));
        }
        Ok(())
    }

    /// The final content of an account file, if the image still has that version.
    pub fn account(&self, path: &str) -> Option<&str> {
        let (layer, text) = self.accounts.get(path)?;
        (self.tree.get(path)?.layer == *layer)
            .then_some(text.as_deref())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean(b"./a//b/").as_deref(), Some("a/b"));
        assert_eq!(clean(b"./"), None);
        assert_eq!(clean(b"/etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(clean(b"x/../etc/shadow").as_deref(), Some("etc/shadow"));
        assert_eq!(clean(b"../../etc").as_deref(), Some("etc"));
    }
}
