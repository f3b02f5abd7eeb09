//! Step cache keys: what a step's result is a function of (parent key, expanded
//! instruction, the build args and variables a step sees, digests of its inputs such as
//! the build context files of COPY/ADD). Records are stored by `kiln_oci::store::step_cache`
//! and looked up through `step_records.rs`.

pub mod inputs;
pub mod key;
pub mod stage_sources;

pub use key::KeyBuilder;
