//! Carrying out one COPY or ADD into a stage's root.

use super::chmod::Chmod;
pub use super::dest::NewDirs;
use super::dest::{Dest, LayerDest, RootDest};
use super::owner::Owner;
use super::sources::{resolve, SourceTree};
use super::tree::{Copier, Item};
use super::url;
use super::CopyError;
use crate::context::dockerignore::{clean, Ignore};
use kiln_layer::{Kind, LayerWriter, Root};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

/// A heredoc source: file name and contents (already expanded when it should be).
#[derive(Debug, Clone)]
pub struct Inline {
    pub name: String,
    pub data: Vec<u8>,
}

/// One COPY/ADD, its words expanded.
#[derive(Debug)]
pub struct CopyRequest<'a> {
    pub add: bool,
    pub sources: Vec<String>,
    pub inline: Vec<Inline>,
    pub dest: String,
    pub workdir: String,
    pub owner: Option<Owner>,
    pub chmod: Option<Chmod>,
    pub parents: bool,
    pub excludes: Option<Ignore>,
    pub checksum: Option<String>,
    /// ADD: unpack local archives (default true for ADD; `--unpack` overrides).
    pub unpack: bool,
    /// Time for files that have none of their own (heredocs, downloads without
    /// Last-Modified): SOURCE_DATE_EPOCH or now.
    pub now: i64,
    /// Scratch space for downloads.
    pub temp_dir: &'a Path,
    /// Where ADD may download from.
    pub url_policy: url::UrlPolicy,
    /// The registry options whose HTTP settings ADD's downloads use (TLS, retry).
    pub http: Option<&'a kiln_registry::RegistryOptions>,
    /// Most bytes of tar an ADD archive may unpack (`--max-layer-size`: what it unpacks
    /// becomes the step's layer); `None`: no limit.
    pub max_unpack: Option<u64>,
}

/// Run `req`, reading from `src` and writing into `dst`. Returns the container paths
/// written or created (for the layer).
pub fn copy(
    req: &CopyRequest<'_>,
    src: &SourceTree<'_>,
    dst: &Root,
) -> Result<Vec<String>, CopyError> {
    let items = items(req, src)?;
    let mut dest = RootDest {
        root: dst,
        changed: BTreeSet::new(),
    };
    let unpacked = run(req, src, &mut dest, Some(dst), items)?;
    let mut changed = dest.changed;
    changed.extend(unpacked);
    Ok(changed.into_iter().collect())
}

/// Run `req` straight into a layer: entries are streamed to `writer` and nothing is written
/// to `dst`, which is only read (it must be the root as it was before this step). Not for
/// ADD of local archives (see [`needs_root`]).
pub fn copy_to_layer<W: Write>(
    req: &CopyRequest<'_>,
    src: &SourceTree<'_>,
    dst: &Root,
    writer: LayerWriter<W>,
) -> Result<W, CopyError> {
    let items = items(req, src)?;
    let mut dest = LayerDest::new(dst, writer);
    run(req, src, &mut dest, None, items)?;
    dest.finish()
}

/// WORKDIR's directories straight into a layer: each directory missing on the way to
/// `path` (symlinks followed inside `dst`, as a mkdir in the root filesystem would), with
/// the existing directories above them as every layer lists them. `dst` is only read.
/// `None` when every directory is already there (no layer).
pub fn mkdir_to_layer<W: Write>(
    dst: &Root,
    path: &str,
    dirs: &NewDirs,
    writer: LayerWriter<W>,
) -> Result<Option<W>, CopyError> {
    let mut dest = LayerDest::new(dst, writer);
    dest.mkdir_all(path, dirs)?;
    if !dest.wrote_any() {
        return Ok(None);
    }
    dest.finish().map(Some)
}

/// Does this step have to write into the root filesystem (ADD unpacking a local archive)?
pub fn needs_root(req: &CopyRequest<'_>, src: &SourceTree<'_>) -> Result<bool, CopyError> {
    if !(req.add && req.unpack) {
        return Ok(false);
    }
    for s in &req.sources {
        if url::is_url(s) {
            continue;
        }
        let (_, rel) = split_parents(s, req.parents);
        for r in resolve(src, &rel)? {
            if super::tree::is_archive(src, &r)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn items(req: &CopyRequest<'_>, src: &SourceTree<'_>) -> Result<Vec<Item>, CopyError> {
    let mut items: Vec<Item> = Vec::new();
    for s in &req.sources {
        if url::is_url(s) {
            if !req.add {
                return Err(CopyError::Invalid {
                    message: format!("source can't be a URL for COPY: {s}"),
                });
            }
            let d = url::download(
                s,
                req.checksum.as_deref(),
                req.temp_dir,
                &req.url_policy,
                req.http,
            )?;
            items.push(Item::Download(d));
            continue;
        }
        if is_git(s) {
            return Err(CopyError::Invalid {
                message: format!("git sources are not supported yet: {s}"),
            });
        }
        if req.checksum.is_some() {
            return Err(CopyError::Invalid {
                message: "checksum requires HTTP(S) sources".into(),
            });
        }
        let (base, rel_to_copy) = split_parents(s, req.parents);
        for rel in resolve(src, &rel_to_copy)? {
            items.push(Item::Path {
                rel,
                parents_base: base.clone(),
            });
        }
    }
    for i in &req.inline {
        items.push(Item::Inline(i.clone()));
    }
    Ok(items)
}

fn run(
    req: &CopyRequest<'_>,
    src: &SourceTree<'_>,
    dst: &mut dyn super::dest::Dest,
    root: Option<&Root>,
    items: Vec<Item>,
) -> Result<Vec<String>, CopyError> {
    let dest = dest_path(&req.dest, &req.workdir);
    let n_sources = req.sources.len() + req.inline.len();
    let dest_is_dir = req.dest.ends_with('/')
        || req.dest.ends_with("/.")
        || req.dest == "."
        || n_sources > 1
        || items.len() > 1
        || dst.stat_follow(&dest)? == Some(Kind::Dir);
    let mut copier = Copier::new(req, src, dst, root);
    for item in items {
        copier.item(item, &dest, dest_is_dir)?;
    }
    Ok(copier.finish())
}

/// The destination as an absolute container path (relative ones are under WORKDIR).
pub(crate) fn dest_path(dest: &str, workdir: &str) -> String {
    let joined = if dest.starts_with('/') {
        dest.to_string()
    } else {
        let wd = if workdir.is_empty() { "/" } else { workdir };
        format!("{wd}/{dest}")
    };
    clean(&joined)
}

fn is_git(s: &str) -> bool {
    s.starts_with("git@") || s.starts_with("git://") || s.ends_with(".git") && url::is_url(s)
}

/// With `--parents`, `a/./b/c` keeps `b/c` under the destination and `a/b/c` keeps all of
/// it. Returns (the part not kept, the source path).
fn split_parents(src: &str, parents: bool) -> (Option<String>, String) {
    if !parents {
        return (None, src.to_string());
    }
    match src.split_once("/./") {
        Some((base, rest)) => (
            Some(clean(base.trim_start_matches('/'))),
            format!("{base}/{rest}"),
        ),
        None => (Some(String::new()), src.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(dest_path("app/", "/src"), "/src/app");
        assert_eq!(dest_path(".", ""), "/");
        assert_eq!(dest_path("/x/../y", "/w"), "/y");
        assert_eq!(
            split_parents("a/./b/c", true),
            (Some("a".into()), "a/b/c".into())
        );
        assert_eq!(
            split_parents("a/b", true),
            (Some(String::new()), "a/b".into())
        );
        assert_eq!(split_parents("a/b", false), (None, "a/b".into()));
    }
}
