//! `kiln prune`: removes what nothing needs.
//!
//! Always: untagged images, blobs no image or step-cache record references,
//! unpacked layers of no kept image, step-cache records that cannot be used
//! (unreadable, or a blob gone), temp directories of ended processes, and
//! temp files cache writers left when they died. With `all`: also the whole
//! step cache, every unpacked layer and the cache files (context stat cache,
//! compressed-layer cache): all are made again when needed. `until` limits
//! images, step records, unpacked layers and cache files to those created or
//! last used (written) before then; `keep_storage` drops the
//! least recently used step records and unpacked layers until the store fits.
//! Nothing a running kiln process has used since it started is removed (see
//! [`super::lease`]).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::gc::{self, LayerPolicy, Roots};
use super::gc_roots::StepRoots;
use super::index::Record;
use super::lease::{self, StaleTemp};
use super::usage::tree_bytes;
use super::{io_err, Store, StoreError, StoredImage, LAYER_COMPLETE};
use crate::digest::Digest;

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Also the whole step cache and all unpacked layers.
    pub all: bool,
    /// Drop least recently used cache until the store uses at most this many bytes.
    pub keep_storage: Option<u64>,
    /// Only what was created or last used longer ago than this.
    pub until: Option<Duration>,
}

/// What a prune removed.
#[derive(Debug, Default)]
pub struct PruneReport {
    /// Image records removed.
    pub images: Vec<StoredImage>,
    /// Step-cache record files removed, with their sizes.
    pub step_records: Vec<(PathBuf, u64)>,
    /// Blobs removed, with sizes.
    pub blobs: Vec<(Digest, u64)>,
    /// Unpacked layers removed (diff-id), with sizes.
    pub layers: Vec<(String, u64)>,
    /// Temp entries of ended processes removed.
    pub temps: Vec<StaleTemp>,
    /// Cache files removed (context stat cache, compressed-layer cache), with sizes.
    pub cache_files: Vec<(PathBuf, u64)>,
    /// What could not be done, with what to do about it.
    pub problems: Vec<String>,
}

impl PruneReport {
    /// Bytes freed.
    pub fn reclaimed(&self) -> u64 {
        self.step_records.iter().map(|r| r.1).sum::<u64>()
            + self.blobs.iter().map(|b| b.1).sum::<u64>()
            + self.layers.iter().map(|l| l.1).sum::<u64>()
            + self.temps.iter().map(|t| t.bytes).sum::<u64>()
            + self.cache_files.iter().map(|c| c.1).sum::<u64>()
    }
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Store {
    /// Prunes the store (see the module docs).
    pub fn prune(&self, opts: &PruneOptions) -> Result<PruneReport, StoreError> {
        let mut report = PruneReport::default();
        let reaped = lease::reap(self.root())?;
        report.temps = reaped.removed;
        report
            .problems
            .extend(reaped.failed.into_iter().map(|e| e.to_string()));
        self.take_lease()?;
        let _index = self.lock()?;
        let now = SystemTime::now();
        let cutoff = opts.until.and_then(|d| now.checked_sub(d));
        let horizon = self.horizon(now)?;
        let older = |t: SystemTime| t < horizon && cutoff.map_or(true, |c| t < c);

        // Untagged images nobody is still making.
        let mut records = self.records()?;
        let path = self.index_path();
        let (gone, kept): (Vec<Record>, Vec<Record>) = records.drain(..).partition(|r| {
            let created = crate::time::parse_rfc3339(&r.created).unwrap_or(0) as f64;
            r.names.is_empty()
                && created < secs(horizon)
                && cutoff.map_or(true, |c| created < secs(c))
        });
        if !gone.is_empty() {
            self.save_records(&kept)?;
            for r in &gone {
                report.images.push(r.to_stored(&path)?);
            }
        }

        // Step-cache records.
        let (steps, bad) = self.step_records()?;
        let mut doomed: Vec<PathBuf> = bad.into_iter().map(|b| b.path).collect();
        doomed.extend(super::gc_roots::stale_temps(self.root())?);
        let mut remaining: Vec<StepRoots> = Vec::new();
        let dropping = opts.all || opts.until.is_some();
        for s in steps {
            let broken = s.blobs.iter().any(|b| !self.has_blob(b));
            if broken || (dropping && older(s.last_used)) {
                doomed.push(s.path);
            } else {
                remaining.push(s);
            }
        }
        let image_roots = Roots::of_images(self, &kept);
        let mut roots = Roots::of_images(self, &kept);
        roots.add_steps(&remaining);
        let mut chosen_layers = HashSet::new();
        if let Some(limit) = opts.keep_storage {
            let (records, layers) = self.least_recently_used(
                &image_roots,
                &roots,
                &remaining,
                opts.all,
                limit,
                horizon,
            )?;
            doomed.extend(records);
            chosen_layers = layers;
            remaining.retain(|s| !doomed.contains(&s.path));
            roots = image_roots;
            roots.add_steps(&remaining);
        }
        for p in doomed {
            let bytes = fs::symlink_metadata(&p).map_or(0, |m| m.len());
            match fs::remove_file(&p) {
                Ok(()) => report.step_records.push((p, bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => report.problems.push(io_err("remove", &p, e).to_string()),
            }
        }

        // Blobs and unpacked layers.
        if roots.unreadable.is_empty() {
            report.blobs = gc::sweep_blobs(self, &roots, None)?;
        } else {
            for (manifest, e) in &roots.unreadable {
                report.problems.push(format!(
                    "image {manifest} cannot be read ({e}); no blobs were removed: run `kiln store verify` and follow its advice"
                ));
            }
        }
        let policy = LayerPolicy {
            all: opts.all,
            unused_since: cutoff,
        };
        report.layers = gc::sweep_layers(self, &roots, policy, Some(&chosen_layers))?;
        let images: HashSet<String> = kept.iter().map(|r| r.config.hex()).collect();
        let (cache_files, problems) =
            self.prune_cache_files(|t| dropping && older(t), now, &images);
        report.cache_files = cache_files;
        report.problems.extend(problems);
        Ok(report)
    }

    /// For `--keep-storage`: the step records and unpacked layers to drop,
    /// least recently used first, until what stays fits in `limit` bytes.
    fn least_recently_used(
        &self,
        image_roots: &Roots,
        roots: &Roots,
        steps: &[StepRoots],
        all_layers: bool,
        limit: u64,
        horizon: SystemTime,
    ) -> Result<(Vec<PathBuf>, HashSet<PathBuf>), StoreError> {
        let blob_bytes = |d: &Digest| {
            fs::symlink_metadata(self.blob_path(d)).map_or(0, |m| {
                use std::os::unix::fs::MetadataExt;
                m.blocks() * 512
            })
        };
        let mut step_refs: HashMap<Digest, usize> = HashMap::new();
        for s in steps {
            for b in &s.blobs {
                *step_refs.entry(*b).or_default() += 1;
            }
        }
        let mut total: u64 = roots.blobs.iter().map(blob_bytes).sum();
        total += steps.iter().map(|s| s.bytes).sum::<u64>();
        enum Item<'a> {
            Step(&'a StepRoots),
            Layer(PathBuf, u64),
        }
        let mut items: Vec<(SystemTime, Item<'_>)> = Vec::new();
        for s in steps {
            items.push((s.last_used, Item::Step(s)));
        }
        if !all_layers {
            for (diff_id, path) in gc::list_layers(self)? {
                let complete = path.join(LAYER_COMPLETE).is_file();
                if complete && diff_id.is_some_and(|d| roots.keeps_layer(&d)) {
                    let bytes = tree_bytes(&path);
                    total += bytes;
                    let used = gc::layer_used(&path).unwrap_or(UNIX_EPOCH);
                    items.push((used, Item::Layer(path, bytes)));
                }
            }
        }
        items.sort_by_key(|(t, _)| *t);
        let mut records = Vec::new();
        let mut layers = HashSet::new();
        for (used, item) in items {
            if total <= limit {
                break;
            }
            if used >= horizon {
                continue;
            }
            match item {
                Item::Step(s) => {
                    total = total.saturating_sub(s.bytes);
                    for b in &s.blobs {
                        let n = step_refs.entry(*b).or_default();
                        *n = n.saturating_sub(1);
                        if *n == 0 && !image_roots.blobs.contains(b) {
                            total = total.saturating_sub(blob_bytes(b));
                        }
                    }
                    records.push(s.path.clone());
                }
                Item::Layer(path, bytes) => {
                    total = total.saturating_sub(bytes);
                    layers.insert(path);
                }
            }
        }
        Ok((records, layers))
    }
}
