//! Copying files, directories, links and special files from a source tree into the
//! destination root, with COPY's ownership, mode and time rules.

use super::dest::{Dest, NewDirs, Out, OutKind};
use super::exec::{CopyRequest, Inline};
use super::sources::SourceTree;
use super::url::Download;
use super::CopyError;
use crate::context::dockerignore::clean;
use kiln_layer::{Kind, Metadata, Root};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

/// One thing a COPY/ADD puts in place.
pub(crate) enum Item {
    /// A path in the source tree; with `--parents`, the leading part not kept.
    Path {
        rel: String,
        parents_base: Option<String>,
    },
    Download(Download),
    Inline(Inline),
}

pub(crate) struct Copier<'a> {
    req: &'a CopyRequest<'a>,
    src: &'a SourceTree<'a>,
    dst: &'a mut dyn Dest,
    /// The root filesystem, when copying into it (ADD of an archive unpacks there).
    root: Option<&'a Root>,
    /// Paths an archive unpacked (in root mode).
    unpacked: Vec<String>,
    /// Hardlinked source files already copied: (dev, ino) -> destination path.
    links: HashMap<(u64, u64), String>,
}

fn join(dir: &str, name: &str) -> String {
    clean(&format!("{dir}/{name}"))
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

impl<'a> Copier<'a> {
    pub fn new(
        req: &'a CopyRequest<'a>,
        src: &'a SourceTree<'a>,
        dst: &'a mut dyn Dest,
        root: Option<&'a Root>,
    ) -> Self {
        Copier {
            req,
            src,
            dst,
            root,
            unpacked: Vec::new(),
            links: HashMap::new(),
        }
    }

    /// Paths unpacked from archives (the destination tracks everything else).
    pub fn finish(self) -> Vec<String> {
        self.unpacked
    }

    fn owner(&self) -> (u32, u32) {
        self.req.owner.map_or((0, 0), |o| (o.uid, o.gid))
    }

    fn mode(&self, mode: u32, is_dir: bool) -> u32 {
        match &self.req.chmod {
            Some(c) => c.apply(mode & 0o7777, is_dir),
            None => mode & 0o7777,
        }
    }

    fn src_err(&self, path: &str, e: impl std::fmt::Display) -> CopyError {
        CopyError::layer(&self.src.label, path, e)
    }

    pub fn item(&mut self, item: Item, dest: &str, dest_is_dir: bool) -> Result<(), CopyError> {
        match item {
            Item::Path { rel, parents_base } => {
                self.path(&rel, parents_base.as_deref(), dest, dest_is_dir)
            }
            Item::Download(mut d) => {
                let target = if dest_is_dir || self.req.dest.ends_with('/') {
                    join(dest, &d.name)
                } else {
                    dest.to_string()
                };
                let mtime = d.mtime.unwrap_or(self.req.now);
                let mode = self.mode(0o600, false);
                self.write_file(&target, &mut d.file, d.size, mode, mtime)
            }
            Item::Inline(i) => {
                let target = if dest_is_dir {
                    join(dest, &i.name)
                } else {
                    dest.to_string()
                };
                let mode = self.mode(0o644, false);
                let size = i.data.len() as u64;
                self.write_file(&target, &mut i.data.as_slice(), size, mode, self.req.now)
            }
        }
    }

    fn path(
        &mut self,
        rel: &str,
        parents_base: Option<&str>,
        dest: &str,
        dest_is_dir: bool,
    ) -> Result<(), CopyError> {
        let meta = self
            .src
            .root
            .stat_follow(rel)
            .map_err(|e| self.src_err(rel, e))?
            .ok_or_else(|| CopyError::NotFound {
                path: rel.to_string(),
                tree: self.src.label.clone(),
            })?;
        let kept = parents_base.map(|base| {
            rel.strip_prefix(base)
                .unwrap_or(rel)
                .trim_start_matches('/')
                .to_string()
        });
        let target = match &kept {
            Some(kept) => {
                self.parent_dirs(parents_base.unwrap_or(""), kept, dest)?;
                join(dest, kept)
            }
            None if meta.kind == Kind::Dir => dest.to_string(),
            None if dest_is_dir => join(dest, basename(rel)),
            None => dest.to_string(),
        };
        if meta.kind == Kind::Dir {
            // With --parents a kept directory is copied like any directory below the top.
            if kept.as_deref().is_some_and(|k| !k.is_empty()) {
                self.ensure_parent(&target)?;
                let out = self.out(rel, &meta, OutKind::Dir, true)?;
                self.dst.put(&target, &out, None)?;
                self.dir_contents(rel, &target, "")?;
                return self.dst.dir_done(&target, &out);
            }
            self.ensure_dir(&target)?;
            return self.dir_contents(rel, &target, "");
        }
        if self.req.add && self.req.unpack && meta.kind == Kind::File && self.root.is_some() {
            let file = self
                .src
                .root
                .open_file(rel)
                .map_err(|e| self.src_err(rel, e))?;
            if let Some(reader) = archive_reader(file).map_err(|e| self.src_err(rel, e))? {
                let dir = if parents_base.is_some() {
                    target.clone()
                } else {
                    dest.to_string()
                };
                return self.unpack(rel, reader, &dir);
            }
        }
        self.ensure_parent(&target)?;
        self.entry(rel, &meta, &target)
    }

    /// `--parents`: create the missing directories between `dest` and the kept path like
    /// their source directories (mode, owner rules, xattrs, time), as BuildKit's
    /// `createParentDirs` does.
    fn parent_dirs(&mut self, base: &str, kept: &str, dest: &str) -> Result<(), CopyError> {
        let parts: Vec<&str> = kept.split('/').filter(|p| !p.is_empty()).collect();
        for i in 1..parts.len() {
            let sub = parts[..i].join("/");
            let target = join(dest, &sub);
            if self.dst.stat_follow(&target)?.is_some() {
                continue;
            }
            let src = if base.is_empty() {
                sub
            } else {
                format!("{base}/{sub}")
            };
            let meta = self
                .src
                .root
                .stat_follow(&src)
                .map_err(|e| self.src_err(&src, e))?
                .ok_or_else(|| CopyError::NotFound {
                    path: src.clone(),
                    tree: self.src.label.clone(),
                })?;
            self.ensure_parent(&target)?;
            let out = self.out(&src, &meta, OutKind::Dir, true)?;
            self.dst.put(&target, &out, None)?;
        }
        Ok(())
    }

    /// Copy what is inside source dir `rel` into `target` (which exists).
    /// `in_copy` is the path relative to the top of this copy, for `--exclude`.
    fn dir_contents(&mut self, rel: &str, target: &str, in_copy: &str) -> Result<(), CopyError> {
        let entries = self
            .src
            .root
            .read_dir(rel)
            .map_err(|e| self.src_err(rel, e))?;
        for (name, meta) in entries {
            let name = name.to_string_lossy().into_owned();
            let child = if rel == "." || rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let child_in_copy = if in_copy.is_empty() {
                name.clone()
            } else {
                format!("{in_copy}/{name}")
            };
            if self
                .req
                .excludes
                .as_ref()
                .is_some_and(|x| x.excludes(&child_in_copy))
            {
                continue;
            }
            let child_target = join(target, &name);
            if self.src.ignored(&child) {
                // An excluded directory may still hold files a `!` pattern brings back.
                if meta.kind == Kind::Dir && self.src.ignore.is_some_and(|i| i.has_exclusions()) {
                    self.dir_contents(&child, &child_target, &child_in_copy)?;
                }
                continue;
            }
            if meta.kind == Kind::Dir {
                if self.dst.lstat(&child_target)? == Some(Kind::File) {
                    return Err(CopyError::dest(
                        &child_target,
                        "cannot overwrite a non-directory with a directory",
                    ));
                }
                let out = self.out(&child, &meta, OutKind::Dir, true)?;
                self.dst.put(&child_target, &out, None)?;
                self.dir_contents(&child, &child_target, &child_in_copy)?;
                self.dst.dir_done(&child_target, &out)?;
            } else {
                self.ensure_parent(&child_target)?;
                self.entry(&child, &meta, &child_target)?;
            }
        }
        Ok(())
    }

    /// Copy one non-directory entry (the symlink itself, not its target, below the top).
    fn entry(&mut self, rel: &str, meta: &Metadata, target: &str) -> Result<(), CopyError> {
        if self.dst.lstat(target)? == Some(Kind::Dir) {
            return Err(CopyError::dest(
                target,
                "cannot replace a directory with a file",
            ));
        }
        match meta.kind {
            Kind::File => {
                if meta.nlink > 1 {
                    if let Some(first) = self.links.get(&(meta.dev, meta.ino)).cloned() {
                        let out = self.out(rel, meta, OutKind::Hardlink(first), false)?;
                        return self.dst.put(target, &out, None);
                    }
                    self.links.insert((meta.dev, meta.ino), target.to_string());
                }
                let mut f = self
                    .src
                    .root
                    .open_file(rel)
                    .map_err(|e| self.src_err(rel, e))?;
                // The size when opened: the content written must match the header.
                let size = f.metadata().map_err(|e| self.src_err(rel, e))?.len();
                let out = self.out(rel, meta, OutKind::File { size }, false)?;
                let mut limited = (&mut f).take(size);
                self.dst.put(target, &out, Some(&mut limited))
            }
            Kind::Symlink => {
                let link = self
                    .src
                    .root
                    .read_link(rel)
                    .map_err(|e| self.src_err(rel, e))?;
                let out = self.out(rel, meta, OutKind::Symlink(link), false)?;
                self.dst.put(target, &out, None)
            }
            Kind::Char | Kind::Block | Kind::Fifo => {
                let out = self.out(rel, meta, OutKind::Node(meta.kind, meta.rdev), false)?;
                self.dst.put(target, &out, None)
            }
            Kind::Socket => Ok(()),
            Kind::Dir => Err(CopyError::dest(
                target,
                "a directory cannot be copied as a file",
            )),
        }
    }

    /// The metadata a copied entry gets: the COPY owner (or the source's, from a stage or
    /// image), the mode (with --chmod), the source's xattrs and time.
    fn out(
        &self,
        rel: &str,
        meta: &Metadata,
        kind: OutKind,
        is_dir: bool,
    ) -> Result<Out, CopyError> {
        let (uid, gid) = match self.req.owner {
            Some(o) => (o.uid, o.gid),
            None if self.src.keep_owners => (meta.uid, meta.gid),
            None => (0, 0),
        };
        let xattrs = self
            .src
            .root
            .get_xattrs(rel)
            .map_err(|e| self.src_err(rel, e))?;
        Ok(Out {
            kind,
            mode: self.mode(meta.mode, is_dir),
            uid,
            gid,
            mtime: meta.mtime,
            xattrs,
        })
    }

    /// Write a regular file from `data` (downloads and heredocs).
    fn write_file(
        &mut self,
        target: &str,
        data: &mut dyn Read,
        size: u64,
        mode: u32,
        mtime: i64,
    ) -> Result<(), CopyError> {
        self.ensure_parent(target)?;
        if self.dst.lstat(target)? == Some(Kind::Dir) {
            return Err(CopyError::dest(
                target,
                "cannot replace a directory with a file",
            ));
        }
        let (uid, gid) = self.owner();
        let out = Out {
            kind: OutKind::File { size },
            mode,
            uid,
            gid,
            mtime: (mtime, 0),
            xattrs: BTreeMap::new(),
        };
        let mut limited = data.take(size);
        self.dst.put(target, &out, Some(&mut limited))
    }

    /// Make sure directory `target` exists. Created directories get the COPY owner and
    /// mode 0755, or the permission bits of an octal `--chmod` (BuildKit creates parents
    /// and the destination with that mode).
    fn ensure_dir(&mut self, target: &str) -> Result<(), CopyError> {
        let mode = match self.req.chmod {
            Some(super::chmod::Chmod::Octal(m)) => m & 0o777,
            _ => 0o755,
        };
        self.ensure_dir_mode(target, mode)
    }

    fn ensure_dir_mode(&mut self, target: &str, mode: u32) -> Result<(), CopyError> {
        match self.dst.stat_follow(target)? {
            Some(Kind::Dir) => Ok(()),
            Some(_) => Err(CopyError::dest(
                target,
                "cannot overwrite a non-directory with a directory",
            )),
            None => {
                let owner = self.owner();
                let dirs = NewDirs {
                    mode,
                    owner,
                    mtime: self.req.now,
                };
                self.dst.mkdir_all(target, &dirs)
            }
        }
    }

    fn ensure_parent(&mut self, target: &str) -> Result<(), CopyError> {
        match target.rfind('/') {
            Some(0) | None => Ok(()),
            Some(i) => self.ensure_dir(&target[..i]),
        }
    }

    /// ADD of a local archive: extract it into `dir`.
    fn unpack(&mut self, rel: &str, reader: Box<dyn Read>, dir: &str) -> Result<(), CopyError> {
        // BuildKit creates an archive's destination with 0755 whatever --chmod says.
        self.ensure_dir_mode(dir, 0o755)?;
        let Some(root) = self.root else {
            return Err(CopyError::dest(
                dir,
                "archives are unpacked into the root filesystem",
            ));
        };
        let sub = root.subroot(dir).map_err(|e| CopyError::dest(dir, e))?;
        let opts = kiln_layer::ExtractOptions {
            whiteouts: kiln_layer::WhiteoutMode::Keep,
            same_owner: true,
            devices: true,
            record_paths: true,
        };
        let mut capped = Capped {
            inner: reader,
            read: 0,
            limit: self.req.max_unpack.unwrap_or(u64::MAX),
        };
        let stats = kiln_layer::extract(&mut capped, &sub, &opts).map_err(|e| {
            let message = if capped.read > capped.limit {
                format!(
                    "it unpacks to more than the --max-layer-size limit of {} bytes (the step's layer would be as large); nothing of it is kept: raise the limit (--max-layer-size SIZE, 0: none) if the archive is trusted",
                    capped.limit
                )
            } else {
                e.to_string()
            };
            CopyError::Unpack {
                path: rel.to_string(),
                message,
            }
        })?;
        let (uid, gid) = self.owner();
        for p in stats.paths {
            let target = join(dir, &p);
            if self.req.owner.is_some() {
                sub.lchown(&p, uid, gid)
                    .map_err(|e| CopyError::dest(&target, e))?;
            }
            self.unpacked.push(target);
        }
        Ok(())
    }
}

/// Is source `rel` a (possibly compressed) tar archive that ADD unpacks?
pub(crate) fn is_archive(src: &SourceTree<'_>, rel: &str) -> Result<bool, CopyError> {
    let err = |e: &dyn std::fmt::Display| CopyError::layer(&src.label, rel, e);
    match src.root.stat_follow(rel).map_err(|e| err(&e))? {
        Some(m) if m.kind == Kind::File => {}
        _ => return Ok(false),
    }
    let file = src.root.open_file(rel).map_err(|e| err(&e))?;
    Ok(archive_reader(file).map_err(|e| err(&e))?.is_some())
}

/// A reader over the tar inside `file` if it is a (possibly compressed) tar archive.
fn archive_reader(
    file: std::fs::File,
) -> Result<Option<Box<dyn Read>>, kiln_oci::CompressionError> {
    let (_, mut reader) = kiln_oci::compression::decompress(file)?;
    let mut header = vec![0u8; 512];
    let mut got = 0;
    while got < 512 {
        match reader.read(&mut header[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return Ok(None),
        }
    }
    if got < 512 || !kiln_layer::is_tar_header(&header) {
        return Ok(None);
    }
    Ok(Some(Box::new(std::io::Cursor::new(header).chain(reader))))
}

/// An archive's tar stream, refused past `limit` bytes (a compressed archive can unpack
/// to far more than it takes in the context).
struct Capped {
    inner: Box<dyn Read>,
    read: u64,
    limit: u64,
}

impl Read for Capped {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other("the archive passed --max-layer-size"));
        }
        Ok(n)
    }
}
