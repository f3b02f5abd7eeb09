//! The step cache on the engine side: keys (parent key, expanded instruction, the build
//! args and variables a step sees, digests of its inputs) and the context inputs of
//! COPY/ADD. Records are stored by `kiln_oci::store::step_cache`.

pub mod inputs;
pub mod key;

pub use key::KeyBuilder;
