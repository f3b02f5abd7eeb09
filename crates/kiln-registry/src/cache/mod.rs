//! Registry build caches (`--cache-to` / `--cache-from type=registry`): step records and
//! their layers as one OCI manifest, so separate stores reuse each other's steps.

mod compressed;
pub mod export;
pub mod format;
pub mod import;
pub mod spec;

pub use export::export;
pub use import::RemoteCache;
pub use spec::{parse_cache_from, parse_cache_to, CacheMode, CacheTo};
