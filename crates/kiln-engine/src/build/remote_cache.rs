//! Registry build caches in a build: step lookups that fall back to the `--cache-from`
//! caches when the store misses, and the `--cache-to` export of the records the build
//! used or made.

use super::progress::Step;
use super::{BuildContext, BuildError};
use kiln_dockerfile::plan::Base;
use kiln_oci::{Digest, StepRecord};
use kiln_registry::cache::{CacheMode, CacheTo};
use std::collections::HashSet;
use std::sync::atomic::Ordering;

impl BuildContext<'_> {
    /// Remember that stage `stage` used or made the record of `key`.
    pub fn note_used(&self, stage: usize, key: &Digest) {
        if let Ok(mut used) = self.used.lock() {
            used.push((stage, *key));
        }
    }

    /// The record of `key`: from the store, else imported from a `--cache-from` cache
    /// (its layer fetched into the store and the record written). A cache that fails is
    /// reported on the step and the step runs.
    pub fn lookup(&self, stage: usize, key: &Digest, step: Option<&Step>) -> Option<StepRecord> {
        if let Some(rec) = self.steps.get(key) {
            self.note_used(stage, key);
            return Some(rec);
        }
        let now = kiln_oci::time::rfc3339(self.now.max(0) as u64);
        let warn = |line: String| {
            if let Some(s) = step {
                s.log(&line);
            }
        };
        for remote in self.remote.iter().filter(|r| r.has(key)) {
            match remote.import(self.store, key, &now) {
                Ok(Some(rec)) => {
                    if let Err(e) = self.steps.put(&rec) {
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

/// The stages whose records `mode` exports.
fn stages(cx: &BuildContext<'_>, mode: CacheMode) -> HashSet<usize> {
    let plan = cx.plan;
    match mode {
        CacheMode::Max => (0..plan.stages.len()).collect(),
        CacheMode::Min => {
            let mut out = HashSet::new();
            let mut at = Some(plan.target);
            while let Some(i) = at.filter(|i| out.insert(*i)) {
                at = match plan.stages.get(i).map(|s| &s.base) {
                    Some(Base::Stage(j)) => Some(*j),
                    _ => None,
                };
            }
            out
        }
    }
}

/// Pushes the records of this build to every `--cache-to` destination.
pub(crate) fn export_all(
    cx: &BuildContext<'_>,
    targets: &[CacheTo],
) -> Result<Vec<kiln_registry::Pushed>, BuildError> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let used = cx.used.lock().map(|u| u.clone()).unwrap_or_default();
    let mut out = Vec::new();
    for to in targets {
        let fail = |message: String| {
            BuildError::Output {
            message: format!(
                "cannot export the build cache to {}: {message} (the image was built and stored; fix this and build again, every step will be cached)",
                to.reference
            ),
        }
        };
        let wanted = stages(cx, to.mode);
        let mut seen = HashSet::new();
        let records: Vec<StepRecord> = used
            .iter()
            .filter(|(stage, key)| wanted.contains(stage) && seen.insert(*key))
            .filter_map(|(_, key)| cx.steps.get(key))
            .collect();
        let registry = cx
            .registry
            .as_ref()
            .ok_or_else(|| fail("registry access is off for this build".into()))?;
        let pushed = kiln_registry::cache::export(cx.store, &records, to, registry).map_err(
            |source| BuildError::Registry {
                doing: format!(
                    "cannot export the build cache to {} (the image was built and stored; fix this and build again, every step will be cached)",
                    to.reference
                ),
                source: Box::new(source),
            },
        )?;
        out.push(pushed);
    }
    Ok(out)
}
