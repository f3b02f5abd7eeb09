//! OCI whiteouts: applied to the lower layers, or turned into overlayfs' form.

use super::*;

impl State<'_> {
    pub(super) fn whiteout(&mut self, e: &RawEntry, comps: &[Vec<u8>], rest: &[u8]) -> Result<()> {
        let parent = &comps[..comps.len() - 1];
        let fs = self.fs(e);
        if rest == b".wh..opq" {
            self.stats.whiteouts += 1;
            let dir = cpath(parent);
            match self.root.lstat(&dir).map_err(&fs)? {
                Some(m) if m.kind == Kind::Dir => {}
                _ => return Ok(()),
            }
            self.clear_opaque(e, parent.to_vec(), 0)?;
            return Ok(());
        }
        if rest.starts_with(b".wh.") {
            self.stats
                .warnings
                .push(format!("{:?}: aufs metadata member skipped", show(&e.name)));
            return Ok(());
        }
        if rest.is_empty() || rest == b"." || rest == b".." {
            return Err(Error::BadWhiteout {
                entry: show(&e.name),
            });
        }
        let mut target = parent.to_vec();
        target.push(rest.to_vec());
        self.stats.whiteouts += 1;
        if self.created.contains(&target) {
            return Ok(());
        }
        self.root.remove_all(cpath(&target)).map_err(&fs)?;
        self.forget_dirs(&target);
        Ok(())
    }

    /// [`WhiteoutMode::Overlay`]: write the whiteout in overlayfs' form.
    pub(super) fn overlay_whiteout(
        &mut self,
        e: &RawEntry,
        comps: &[Vec<u8>],
        rest: &[u8],
    ) -> Result<()> {
        let parent = &comps[..comps.len() - 1];
        let fs = self.fs(e);
        let dir = cpath(parent);
        if rest.starts_with(b".wh.") && rest != b".wh..opq" {
            self.stats
                .warnings
                .push(format!("{:?}: aufs metadata member skipped", show(&e.name)));
            return Ok(());
        }
        if rest != b".wh..opq" && (rest.is_empty() || rest == b"." || rest == b"..") {
            return Err(Error::BadWhiteout {
                entry: show(&e.name),
            });
        }
        // The whiteout must live in its directory: create it if the layer
        // lacks it (it then also sets the merged directory's metadata, as
        // with other overlay-based unpackers). Below a non-directory (e.g.
        // a whiteout of the parent) it is moot.
        match self.root.lstat(&dir).map_err(&fs)? {
            Some(m) if m.kind == Kind::Dir => {}
            None => match self.root.mkdir_all(&dir, 0o755, None) {
                Ok(_) => {}
                Err(root::Error::NotADirectory { kind, .. }) => {
                    self.stats.warnings.push(format!(
                        "{:?}: whiteout below a {kind} skipped",
                        show(&e.name)
                    ));
                    return Ok(());
                }
                Err(err) => return Err(fs(err)),
            },
            Some(m) => {
                self.stats.warnings.push(format!(
                    "{:?}: whiteout below a {} skipped",
                    show(&e.name),
                    m.kind
                ));
                return Ok(());
            }
        }
        self.stats.whiteouts += 1;
        if rest == b".wh..opq" {
            return self
                .root
                .set_xattr(&dir, OVERLAY_OPAQUE_XATTR, b"y")
                .map_err(&fs);
        }
        let mut target = parent.to_vec();
        target.push(rest.to_vec());
        if self.created.contains(&target) {
            return Ok(());
        }
        let path = cpath(&target);
        if self.root.lstat(&path).map_err(&fs)?.is_some() {
            self.root.remove_all(&path).map_err(&fs)?;
            self.forget_dirs(&target);
        }
        self.root.mknod(&path, Kind::Char, 0, 0).map_err(&fs)?;
        if self.opts.record_paths {
            self.stats
                .paths
                .push(path.to_string_lossy().trim_start_matches('/').to_string());
        }
        Ok(())
    }

    /// Remove everything below `dir` that this layer did not create,
    /// descending into directories it did create.
    pub(super) fn clear_opaque(
        &mut self,
        e: &RawEntry,
        dir: Vec<Vec<u8>>,
        depth: usize,
    ) -> Result<()> {
        let fs = self.fs(e);
        if depth > root::MAX_DEPTH {
            return Err(fs(root::Error::TooDeep {
                op: "apply opaque whiteout",
                path: cpath(&dir),
                root: self.root.path().to_path_buf(),
            }));
        }
        for (name, meta) in self.root.read_dir(cpath(&dir)).map_err(&fs)? {
            let mut child = dir.clone();
            child.push(name.into_vec());
            if self.created.contains(&child) {
                if meta.kind == Kind::Dir {
                    self.clear_opaque(e, child, depth + 1)?;
                }
            } else {
                self.root.remove_all(cpath(&child)).map_err(&fs)?;
                self.forget_dirs(&child);
            }
        }
        Ok(())
    }
}
