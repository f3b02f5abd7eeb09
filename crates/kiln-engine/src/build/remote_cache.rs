//! Registry build caches in a build: the `--cache-to` export of the step records the build
//! used or made (the `--cache-from` lookups are in `step_records.rs`).

use super::error::{BuildError, RegistryOp};
use super::state::BuildState;
use kiln_dockerfile::plan::{Base, Plan};
use kiln_oci::StepRecord;
use kiln_registry::cache::{CacheMode, CacheTo};
use std::collections::HashSet;

/// The stages whose records `mode` exports.
fn stages(plan: &Plan, mode: CacheMode) -> HashSet<usize> {
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
    cx: &BuildState<'_>,
    targets: &[CacheTo],
    registry: Option<&kiln_registry::RegistryOptions>,
) -> Result<Vec<kiln_registry::Pushed>, BuildError> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let used = cx.services.steps.used();
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
        let wanted = stages(cx.spec.plan, to.mode);
        let mut seen = HashSet::new();
        let records: Vec<StepRecord> = used
            .iter()
            .filter(|(stage, key)| wanted.contains(stage) && seen.insert(*key))
            .filter_map(|(_, key)| cx.services.steps.get(key))
            .collect();
        let registry =
            registry.ok_or_else(|| fail("registry access is off for this build".into()))?;
        let pushed = kiln_registry::cache::export(cx.services.store, &records, to, registry)
            .map_err(|e| BuildError::Registry {
                op: RegistryOp::CacheExport {
                    dest: to.reference.to_string(),
                },
                source: Box::new(e),
            })?;
        out.push(pushed);
    }
    Ok(out)
}
