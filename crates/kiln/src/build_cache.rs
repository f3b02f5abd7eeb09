//! `--cache-from`: the caches are opened (manifest and config fetched and checked) before
//! the build. As with BuildKit, a cache that cannot be used is a warning: the build runs
//! without it.

use crate::exit::Failure;
use kiln_registry::cache::{parse_cache_from, RemoteCache};
use kiln_registry::RegistryOptions;
use std::sync::Arc;

/// Opens every `--cache-from` cache; `warn`: print why a cache is skipped.
pub fn open_all(
    specs: &[String],
    registry: &RegistryOptions,
    warn: bool,
) -> Result<Vec<Arc<RemoteCache>>, Failure> {
    let refs = specs
        .iter()
        .map(|s| parse_cache_from(s).map_err(Failure::usage))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for r in refs {
        match RemoteCache::open(&r, registry) {
            Ok(c) => {
                if registry.progress && warn {
                    eprintln!("Using build cache {r}@{} ({} steps)", c.manifest, c.len());
                }
                out.push(Arc::new(c));
            }
            Err(e) if warn => {
                eprintln!("warning: --cache-from {r}: {e}; building without this cache");
            }
            Err(_) => {}
        }
    }
    Ok(out)
}
