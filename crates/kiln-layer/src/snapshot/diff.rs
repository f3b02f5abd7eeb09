//! Canonical diffs: an overlay upper directory, or two plain trees, to a
//! layer. See the [module docs](super) for the rules both share.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::extract::{cpath, OVERLAY_OPAQUE_XATTR};
use crate::root::{Kind, Metadata, Root, MAX_DEPTH};
use crate::tar_write::{keep_xattr, write_one, EntryKind, EntryMeta, LayerWriter};

use super::{Error, Result};

const OVERLAY_REDIRECT_XATTR: &str = "trusted.overlay.redirect";

type Comps = Vec<Vec<u8>>;

const OPQ: &[u8] = b".wh..wh..opq";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// Emit the after-state object at this path.
    Entry,
    /// Whiteout of the object at this path (the key is the `.wh.` name).
    Whiteout(Comps),
    /// Opaque marker of this directory (the key is `<dir>/.wh..wh..opq`).
    Opaque(Comps),
}

/// Turn the upper directory of an overlay mount into a layer: what changed
/// relative to `lower_view`, the merged lower layers (e.g. a read-only
/// overlay of them, [`super::OverlaySnapshot::mount_readonly`]). Only the
/// upper directory is walked; `lower_view` is consulted for the paths it
/// holds. Overlayfs' whiteouts (0:0 character devices) and opaque
/// directories (`trusted.overlay.opaque=y`) are turned into OCI whiteouts
/// and opaque markers as described in the [module docs](super).
pub fn diff_overlay_upper<W: Write>(
    upper: &Root,
    lower_view: &Root,
    w: &mut LayerWriter<W>,
) -> Result<()> {
    let mut p = Planner {
        before: lower_view,
        after: upper,
        overlay: true,
        ops: BTreeMap::new(),
    };
    p.diff_dir(&Vec::new(), false, 0)?;
    p.emit(w)
}

/// Compare the tree `before` with the tree `after` and write what changed
/// as a layer (vfs snapshotter). See the [module docs](super).
pub fn diff_trees<W: Write>(before: &Root, after: &Root, w: &mut LayerWriter<W>) -> Result<()> {
    let mut p = Planner {
        before,
        after,
        overlay: false,
        ops: BTreeMap::new(),
    };
    p.diff_dir(&Vec::new(), false, 0)?;
    p.emit(w)
}

fn rel(comps: &[Vec<u8>]) -> PathBuf {
    let mut s = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            s.push(b'/');
        }
        s.extend_from_slice(c);
    }
    PathBuf::from(OsString::from_vec(s))
}

fn comps_of(p: &Path) -> Comps {
    p.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n.as_bytes().to_vec()),
            _ => None,
        })
        .collect()
}

fn child(d: &[Vec<u8>], name: &[u8]) -> Comps {
    let mut c = d.to_vec();
    c.push(name.to_vec());
    c
}

/// An overlayfs whiteout: a character device 0:0.
fn is_whiteout(m: &Metadata) -> bool {
    m.kind == Kind::Char && m.rdev == 0
}

struct AfterChild {
    meta: Metadata,
    /// False for an overlay child that only exists in the lowers
    /// (unchanged by definition).
    candidate: bool,
}

struct Planner<'a> {
    before: &'a Root,
    after: &'a Root,
    overlay: bool,
    ops: BTreeMap<Comps, Op>,
}

impl Planner<'_> {
    fn xattrs(root: &Root, p: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut x = root.get_xattrs(p)?;
        x.retain(|k, _| keep_xattr(k));
        Ok(x)
    }

    /// True if the object at `p` differs between before (`b`) and after
    /// (`a`); both have the same kind.
    fn changed(&self, p: &Path, b: &Metadata, a: &Metadata) -> Result<bool> {
        if b.mode != a.mode || b.uid != a.uid || b.gid != a.gid || b.mtime != a.mtime {
            return Ok(true);
        }
        match a.kind {
            Kind::File if b.size != a.size => return Ok(true),
            Kind::Char | Kind::Block if b.rdev != a.rdev => return Ok(true),
            Kind::Symlink if self.before.read_link(p)? != self.after.read_link(p)? => {
                return Ok(true)
            }
            _ => {}
        }
        Ok(Self::xattrs(self.before, p)? != Self::xattrs(self.after, p)?)
    }

    fn before_children(&self, d: &[Vec<u8>]) -> Result<BTreeMap<Vec<u8>, Metadata>> {
        Ok(self
            .before
            .read_dir(cpath(d))?
            .into_iter()
            .map(|(n, m)| (n.into_vec(), m))
            .collect())
    }

    /// Children of `d` after the step; for overlay, `opaque` says whether
    /// `d` hides the lowers.
    fn after_children(
        &self,
        d: &[Vec<u8>],
        before: &BTreeMap<Vec<u8>, Metadata>,
        opaque: bool,
    ) -> Result<BTreeMap<Vec<u8>, AfterChild>> {
        let mut out = BTreeMap::new();
        let listed = self.after.read_dir(cpath(d))?;
        if !self.overlay {
            for (n, meta) in listed {
                out.insert(
                    n.into_vec(),
                    AfterChild {
                        meta,
                        candidate: true,
                    },
                );
            }
            return Ok(out);
        }
        let mut hidden = BTreeSet::new();
        for (n, meta) in listed {
            if is_whiteout(&meta) {
                hidden.insert(n.into_vec());
            } else {
                out.insert(
                    n.into_vec(),
                    AfterChild {
                        meta,
                        candidate: true,
                    },
                );
            }
        }
        if !opaque {
            for (n, meta) in before {
                if !out.contains_key(n) && !hidden.contains(n) {
                    out.insert(
                        n.clone(),
                        AfterChild {
                            meta: meta.clone(),
                            candidate: false,
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// Whether upper directory `d` is opaque; refuses redirected
    /// directories (an upper dir from a mount with `redirect_dir=on`).
    fn is_opaque(&self, d: &[Vec<u8>]) -> Result<bool> {
        let x = self.after.get_xattrs(cpath(d))?;
        if x.contains_key(OVERLAY_REDIRECT_XATTR) {
            return Err(Error::Unsupported {
                path: cpath(d),
                dir: self.after.path().to_path_buf(),
                what: "a redirected directory (trusted.overlay.redirect)".into(),
            });
        }
        Ok(x.get(OVERLAY_OPAQUE_XATTR)
            .is_some_and(|v| v.as_slice() == b"y"))
    }

    /// Diff directory `d`, a directory both before and after (and, for
    /// overlay, present in the upper directory).
    fn diff_dir(&mut self, d: &Comps, opaque_ctx: bool, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(crate::root::Error::TooDeep {
                op: "diff",
                path: cpath(d),
                root: self.after.path().to_path_buf(),
            }
            .into());
        }
        let opaque = self.overlay && (opaque_ctx || self.is_opaque(d)?);
        let before = self.before_children(d)?;
        let after = self.after_children(d, &before, opaque)?;
        let mut gone: Vec<&Vec<u8>> = Vec::new();
        let mut survivors = false;
        for (name, b) in &before {
            match after.get(name) {
                None => gone.push(name),
                Some(a) => {
                    survivors = true;
                    if !a.candidate {
                        continue;
                    }
                    let c = child(d, name);
                    if a.meta.kind != b.kind {
                        self.add_subtree(&c, &a.meta)?;
                    } else if a.meta.kind == Kind::Dir {
                        if self.changed(&cpath(&c), b, &a.meta)? {
                            self.ops.insert(c.clone(), Op::Entry);
                        }
                        self.diff_dir(&c, opaque, depth + 1)?;
                    } else if self.changed(&cpath(&c), b, &a.meta)? {
                        self.ops.insert(c, Op::Entry);
                    }
                }
            }
        }
        for (name, a) in &after {
            if !before.contains_key(name) {
                self.add_subtree(&child(d, name), &a.meta)?;
            }
        }
        if !d.is_empty() && gone.len() > 1 && !survivors {
            self.ops.insert(child(d, OPQ), Op::Opaque(d.clone()));
        } else {
            for name in gone {
                let mut wh = b".wh.".to_vec();
                wh.extend_from_slice(name);
                self.ops.insert(child(d, &wh), Op::Whiteout(child(d, name)));
            }
        }
        Ok(())
    }

    /// A path new after the step (or of a new type): it and everything
    /// below it.
    fn add_subtree(&mut self, c: &Comps, meta: &Metadata) -> Result<()> {
        self.ops.insert(c.clone(), Op::Entry);
        if meta.kind != Kind::Dir {
            return Ok(());
        }
        for (p, m) in self.after.walk(cpath(c))? {
            if self.overlay && is_whiteout(&m) {
                continue;
            }
            let pc = comps_of(&p);
            if self.overlay && m.kind == Kind::Dir {
                // Only to refuse redirects: a new directory hides nothing.
                self.is_opaque(&pc)?;
            }
            self.ops.insert(pc, Op::Entry);
        }
        Ok(())
    }

    /// Complete hard link groups, add parents, and write.
    fn emit<W: Write>(mut self, w: &mut LayerWriter<W>) -> Result<()> {
        let mut linked = false;
        for (k, op) in &self.ops {
            if *op == Op::Entry {
                if let Some(m) = self.after.lstat(cpath(k))? {
                    if m.kind != Kind::Dir && m.nlink > 1 {
                        linked = true;
                        break;
                    }
                }
            }
        }
        if linked {
            let mut groups: HashMap<(u64, u64), Vec<Comps>> = HashMap::new();
            for (p, m) in self.after.walk("/")? {
                if m.kind != Kind::Dir && m.nlink > 1 && !(self.overlay && is_whiteout(&m)) {
                    groups.entry((m.dev, m.ino)).or_default().push(comps_of(&p));
                }
            }
            for members in groups.values() {
                if members
                    .iter()
                    .any(|c| self.ops.get(c).is_some_and(|o| *o == Op::Entry))
                {
                    for c in members {
                        self.ops.insert(c.clone(), Op::Entry);
                    }
                }
            }
        }
        let keys: Vec<Comps> = self.ops.keys().cloned().collect();
        for k in keys {
            for i in 1..k.len() {
                self.ops.entry(k[..i].to_vec()).or_insert(Op::Entry);
            }
        }
        let none = EntryMeta::default();
        for (k, op) in &self.ops {
            match op {
                Op::Entry => write_one(self.after, k, w)?,
                Op::Whiteout(target) => {
                    w.add_entry_path(&rel(target), &none, EntryKind::Whiteout, None)?
                }
                Op::Opaque(dir) => w.add_entry_path(&rel(dir), &none, EntryKind::Opaque, None)?,
            }
        }
        Ok(())
    }
}
