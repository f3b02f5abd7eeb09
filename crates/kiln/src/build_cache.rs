//! `--cache-from`: the caches are opened (manifest and config fetched and checked) before
//! the build. As with BuildKit, a cache that cannot be used is a warning: the build runs
//! without it.

use crate::progress::Display;
use kiln_oci::Reference;
use kiln_registry::cache::RemoteCache;
use kiln_registry::RegistryOptions;
use std::sync::Arc;

/// Opens every `--cache-from` cache; what is used and why a cache is skipped goes to
/// `display` (nowhere when quiet).
pub fn open_all(
    refs: &[Reference],
    registry: &RegistryOptions,
    display: &Option<Arc<dyn Display>>,
) -> Vec<Arc<RemoteCache>> {
    let mut out = Vec::new();
    for r in refs {
        match RemoteCache::open(r, registry) {
            Ok(c) => {
                if let Some(d) = display {
                    d.message(&format!(
                        "Using build cache {r}@{} ({} steps)",
                        c.manifest,
                        c.len()
                    ));
                }
                out.push(Arc::new(c));
            }
            Err(e) => {
                if let Some(d) = display {
                    d.message(&format!(
                        "warning: --cache-from {r}: {e}; building without this cache"
                    ));
                }
            }
        }
    }
    out
}
