//! The step cache as a build sees it: records from the store, else imported from the
//! `--cache-from` caches, and the keys the build used or made (for `--cache-to`).

use super::progress::Step;
use kiln_oci::{Digest, StepCache, StepRecord, Store};
use kiln_registry::cache::RemoteCache;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) struct StepRecords<'a> {
    store: &'a Store,
    cache: StepCache,
    /// `--cache-from` caches, looked up when the store misses a step.
    remote: Vec<Arc<RemoteCache>>,
    /// When the build started (RFC 3339), the last-use time of imported records.
    now: String,
    /// Cache keys this build used or made, with their stage (for `--cache-to`).
    used: Mutex<Vec<(usize, Digest)>>,
    /// Steps imported from `remote`.
    imported: AtomicUsize,
}

impl<'a> StepRecords<'a> {
    pub fn new(store: &'a Store, remote: Vec<Arc<RemoteCache>>, now: i64) -> StepRecords<'a> {
        StepRecords {
            store,
            cache: store.step_cache(),
            remote,
            now: kiln_oci::time::rfc3339(now.max(0) as u64),
            used: Mutex::new(Vec::new()),
            imported: AtomicUsize::new(0),
        }
    }

    /// The record of `key` in the store (no `--cache-from` fallback, not noted as used).
    pub fn get(&self, key: &Digest) -> Option<StepRecord> {
        self.cache.get(key)
    }

    /// Write a record and note that stage `stage` made it.
    pub fn put(&self, stage: usize, rec: &StepRecord) -> Result<(), kiln_oci::StoreError> {
        self.cache.put(rec)?;
        self.note_used(stage, &rec.key);
        Ok(())
    }

    /// Mark a record used at `now` (for pruning by age).
    pub fn touch(&self, rec: &StepRecord, now: u64) {
        self.cache.touch(rec, now);
    }

    /// Remember that stage `stage` used or made the record of `key`.
    pub fn note_used(&self, stage: usize, key: &Digest) {
        if let Ok(mut used) = self.used.lock() {
            used.push((stage, *key));
        }
    }

    /// The keys used or made so far, with their stage.
    pub fn used(&self) -> Vec<(usize, Digest)> {
        self.used.lock().map(|u| u.clone()).unwrap_or_default()
    }

    /// How many records came from a `--cache-from` cache.
    pub fn imported(&self) -> usize {
        self.imported.load(Ordering::Relaxed)
    }

    /// The record of `key`: from the store, else imported from a `--cache-from` cache
    /// (its layer fetched into the store and the record written). A cache that fails is
    /// reported on the step and the step runs.
    pub fn lookup(&self, stage: usize, key: &Digest, step: Option<&Step>) -> Option<StepRecord> {
        if let Some(rec) = self.cache.get(key) {
            self.note_used(stage, key);
            return Some(rec);
        }
        let warn = |line: String| {
            if let Some(s) = step {
                s.log(&line);
            }
        };
        for remote in self.remote.iter().filter(|r| r.has(key)) {
            match remote.import(self.store, key, &self.now) {
                Ok(Some(rec)) => {
                    if let Err(e) = self.cache.put(&rec) {
                        warn(format!(
                            "warning: cannot record step {key} from cache {}: {e}; running the step",
                            remote.reference
                        ));
                        return None;
                    }
                    self.note_used(stage, key);
                    self.imported.fetch_add(1, Ordering::Relaxed);
                    return Some(rec);
                }
                Ok(None) => {}
                Err(e) => warn(format!(
                    "warning: cannot use step {key} from cache {}: {e}; running the step",
                    remote.reference
                )),
            }
        }
        None
    }
}
