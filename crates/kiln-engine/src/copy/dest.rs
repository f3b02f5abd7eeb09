//! Where COPY puts what it copies: into the stage's root filesystem ([`RootDest`]), or
//! straight into the step's layer ([`LayerDest`]) without creating a single file on disk.
//!
//! The layer form is what makes COPY fast: a step that copies 20,000 files writes one tar
//! stream instead of 20,000 inodes that are read back to make the layer (and creating many
//! inodes right after a previous build deleted many is slow on ext4). The root filesystem
//! then catches up by unpacking the layer, and only when a later step needs it.

use super::CopyError;
use crate::context::dockerignore::clean;
use kiln_layer::{EntryKind, EntryMeta, Kind, LayerWriter, Root};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::PathBuf;

/// What to put at a path.
#[derive(Debug, Clone)]
pub(crate) enum OutKind {
    Dir,
    File {
        size: u64,
    },
    Symlink(PathBuf),
    /// A hard link to a path this step already wrote.
    Hardlink(String),
    Node(Kind, u64),
}

/// An entry with its final metadata.
#[derive(Debug, Clone)]
pub(crate) struct Out {
    pub kind: OutKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: (i64, u32),
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// The mode, owner and modification time of the directories [`Dest::mkdir_all`] creates.
#[derive(Debug, Clone, Copy)]
pub struct NewDirs {
    pub mode: u32,
    pub owner: (u32, u32),
    pub mtime: i64,
}

/// The destination of a COPY step. Paths are absolute container paths.
pub(crate) trait Dest {
    /// The kind of what is at `p`, following symlinks (inside the root).
    fn stat_follow(&mut self, p: &str) -> Result<Option<Kind>, CopyError>;
    /// The kind of what is at `p` itself.
    fn lstat(&mut self, p: &str) -> Result<Option<Kind>, CopyError>;
    /// Create the missing directories of `p` with this mode, owner and time.
    fn mkdir_all(&mut self, p: &str, dirs: &NewDirs) -> Result<(), CopyError>;
    /// Put `out` at `p`, replacing a non-directory there; for directories, set the metadata
    /// of an existing one. `content` is read for files.
    fn put(&mut self, p: &str, out: &Out, content: Option<&mut dyn Read>) -> Result<(), CopyError>;
    /// A directory's children are done (the root form sets its time again).
    fn dir_done(&mut self, p: &str, out: &Out) -> Result<(), CopyError>;
}

fn derr(p: &str) -> impl Fn(kiln_layer::RootError) -> CopyError + '_ {
    move |e| CopyError::dest(p, e)
}

/// Writes into a root filesystem; remembers what it changed, for the layer.
pub(crate) struct RootDest<'a> {
    pub root: &'a Root,
    pub changed: BTreeSet<String>,
}

impl Dest for RootDest<'_> {
    fn stat_follow(&mut self, p: &str) -> Result<Option<Kind>, CopyError> {
        Ok(self.root.stat_follow(p).map_err(derr(p))?.map(|m| m.kind))
    }

    fn lstat(&mut self, p: &str) -> Result<Option<Kind>, CopyError> {
        Ok(self.root.lstat(p).map_err(derr(p))?.map(|m| m.kind))
    }

    fn mkdir_all(&mut self, p: &str, dirs: &NewDirs) -> Result<(), CopyError> {
        let created = self
            .root
            .mkdir_all(p, dirs.mode, Some(dirs.owner))
            .map_err(derr(p))?;
        self.changed.extend(
            created
                .into_iter()
                .map(|c| c.to_string_lossy().into_owned()),
        );
        Ok(())
    }

    fn put(&mut self, p: &str, out: &Out, content: Option<&mut dyn Read>) -> Result<(), CopyError> {
        let root = self.root;
        let e = derr(p);
        match &out.kind {
            OutKind::Dir => {
                if root.lstat(p).map_err(&e)?.is_none() {
                    root.mkdir(p, out.mode & 0o7777).map_err(&e)?;
                }
            }
            OutKind::File { .. } => {
                let f = root.create_file(p, out.mode & 0o7777).map_err(&e)?;
                if let Some(c) = content {
                    // Zero blocks stay holes: a sparse source costs no more in the copy.
                    let mut sparse = kiln_oci::SparseFile::new(&f);
                    std::io::copy(c, &mut sparse)
                        .and_then(|_| sparse.finish().map(drop))
                        .map_err(|err| CopyError::dest(p, err))?;
                }
            }
            OutKind::Symlink(target) => {
                let _ = root.remove_all(p);
                root.symlink(target, p).map_err(&e)?;
            }
            OutKind::Hardlink(first) => {
                let _ = root.remove_all(p);
                root.hardlink(first, p).map_err(&e)?;
                self.changed.insert(p.to_string());
                return Ok(());
            }
            OutKind::Node(kind, rdev) => {
                let _ = root.remove_all(p);
                root.mknod(p, *kind, out.mode & 0o7777, *rdev).map_err(&e)?;
            }
        }
        root.lchown(p, out.uid, out.gid).map_err(&e)?;
        if !matches!(out.kind, OutKind::Symlink(_)) {
            root.chmod(p, out.mode & 0o7777).map_err(&e)?;
        }
        for (k, v) in &out.xattrs {
            root.set_xattr(p, k, v).map_err(&e)?;
        }
        root.set_times(p, out.mtime).map_err(&e)?;
        self.changed.insert(p.to_string());
        Ok(())
    }

    fn dir_done(&mut self, p: &str, out: &Out) -> Result<(), CopyError> {
        self.root.set_times(p, out.mtime).map_err(derr(p))
    }
}

/// Streams entries into a layer; reads the (unchanged) root filesystem for what exists.
pub(crate) struct LayerDest<'a, W: Write> {
    pub root: &'a Root,
    pub writer: LayerWriter<W>,
    /// What this step wrote, by resolved path.
    wrote: HashMap<String, Kind>,
    /// Lexical directory -> its path with symlinks resolved inside the root.
    resolved: HashMap<String, String>,
}

impl<'a, W: Write> LayerDest<'a, W> {
    pub fn new(root: &'a Root, writer: LayerWriter<W>) -> Self {
        LayerDest {
            root,
            writer,
            wrote: HashMap::new(),
            resolved: HashMap::new(),
        }
    }

    /// `p` with its parent directory's symlinks resolved inside the root (the final
    /// component is kept: a COPY replaces a symlink, it does not write through it).
    fn resolve(&mut self, p: &str) -> Result<String, CopyError> {
        let p = clean(p);
        let Some((parent, name)) = p.rsplit_once('/') else {
            return Ok(p);
        };
        let parent = if parent.is_empty() { "/" } else { parent };
        let dir = self.resolve_dir(parent)?;
        Ok(clean(&format!("{dir}/{name}")))
    }

    fn resolve_dir(&mut self, dir: &str) -> Result<String, CopyError> {
        if dir == "/" {
            return Ok("/".into());
        }
        if let Some(r) = self.resolved.get(dir) {
            return Ok(r.clone());
        }
        let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
        let parent = self.resolve_dir(if parent.is_empty() { "/" } else { parent })?;
        let joined = clean(&format!("{parent}/{name}"));
        let r = if self.wrote.contains_key(&joined) {
            joined
        } else {
            let resolved = self.root.resolve(&joined).map_err(derr(dir))?;
            clean(&resolved.to_string_lossy())
        };
        self.resolved.insert(dir.to_string(), r.clone());
        Ok(r)
    }

    /// Emit the existing directories above `p` (with their metadata from the root), as
    /// every layer lists the parents of what it holds.
    fn parents(&mut self, p: &str) -> Result<(), CopyError> {
        let Some((parent, _)) = p.rsplit_once('/') else {
            return Ok(());
        };
        if parent.is_empty() || self.writer.was_emitted(parent) {
            return Ok(());
        }
        if self.wrote.contains_key(parent) {
            return Ok(());
        }
        kiln_layer::write_paths(self.root, &[parent.to_string()], &mut self.writer)
            .map_err(|e| CopyError::dest(parent, e))
    }

    /// Has this step written anything yet?
    pub fn wrote_any(&self) -> bool {
        !self.wrote.is_empty()
    }

    pub fn finish(self) -> Result<W, CopyError> {
        self.writer
            .finish()
            .map_err(|e| CopyError::dest("/", format!("cannot write the layer: {e}")))
    }
}

impl<W: Write> Dest for LayerDest<'_, W> {
    fn stat_follow(&mut self, p: &str) -> Result<Option<Kind>, CopyError> {
        let r = self.resolve_dir(&clean(p))?;
        if let Some(k) = self.wrote.get(&r) {
            return Ok(Some(*k));
        }
        Ok(self.root.lstat(&r).map_err(derr(p))?.map(|m| m.kind))
    }

    fn lstat(&mut self, p: &str) -> Result<Option<Kind>, CopyError> {
        let r = self.resolve(p)?;
        if let Some(k) = self.wrote.get(&r) {
            return Ok(Some(*k));
        }
        Ok(self.root.lstat(&r).map_err(derr(p))?.map(|m| m.kind))
    }

    /// Directories are created where the path leads inside the root: through symlinks,
    /// as a COPY into the root filesystem would.
    fn mkdir_all(&mut self, p: &str, dirs: &NewDirs) -> Result<(), CopyError> {
        let NewDirs { mode, owner, mtime } = *dirs;
        // Where the path leads (symlinks followed inside the root, missing parts kept),
        // then every missing directory on the way there.
        let resolved = self.resolve_dir(&clean(p))?;
        let mut r = String::new();
        for comp in resolved.split('/').filter(|c| !c.is_empty()) {
            r.push('/');
            r.push_str(comp);
            let kind = match self.wrote.get(&r) {
                Some(k) => Some(*k),
                None => self.root.lstat(&r).map_err(derr(p))?.map(|m| m.kind),
            };
            match kind {
                Some(Kind::Dir) => continue,
                Some(_) => {
                    return Err(CopyError::dest(
                        &r,
                        "cannot overwrite a non-directory with a directory",
                    ))
                }
                None => {
                    self.parents(&r)?;
                    let meta = EntryMeta {
                        mode: mode & 0o7777,
                        uid: owner.0,
                        gid: owner.1,
                        mtime,
                        xattrs: BTreeMap::new(),
                    };
                    self.writer
                        .add_entry(r.trim_start_matches('/'), &meta, EntryKind::Dir, None)
                        .map_err(|e| CopyError::dest(&r, e))?;
                    self.wrote.insert(r.clone(), Kind::Dir);
                }
            }
        }
        Ok(())
    }

    fn put(&mut self, p: &str, out: &Out, content: Option<&mut dyn Read>) -> Result<(), CopyError> {
        let r = self.resolve(p)?;
        self.parents(&r)?;
        let meta = EntryMeta {
            mode: out.mode & 0o7777,
            uid: out.uid,
            gid: out.gid,
            mtime: out.mtime.0,
            xattrs: out.xattrs.clone(),
        };
        let (kind, k) = match &out.kind {
            OutKind::Dir => (EntryKind::Dir, Kind::Dir),
            OutKind::File { size } => (EntryKind::File { size: *size }, Kind::File),
            OutKind::Symlink(t) => (EntryKind::Symlink { target: t.clone() }, Kind::Symlink),
            OutKind::Hardlink(first) => {
                let first = self.resolve(first)?;
                (
                    EntryKind::Hardlink {
                        target: PathBuf::from(first.trim_start_matches('/')),
                    },
                    Kind::File,
                )
            }
            OutKind::Node(kind, rdev) => {
                let (major, minor) = (kiln_layer::major(*rdev), kiln_layer::minor(*rdev));
                let ek = match kind {
                    Kind::Char => EntryKind::Char { major, minor },
                    Kind::Block => EntryKind::Block { major, minor },
                    _ => EntryKind::Fifo,
                };
                (ek, *kind)
            }
        };
        self.writer
            .add_entry(r.trim_start_matches('/'), &meta, kind, content)
            .map_err(|e| CopyError::dest(p, e))?;
        self.wrote.insert(r, k);
        Ok(())
    }

    fn dir_done(&mut self, _p: &str, _out: &Out) -> Result<(), CopyError> {
        Ok(())
    }
}
