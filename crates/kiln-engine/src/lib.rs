//! kiln's build engine: runs a [`kiln_dockerfile::plan::Plan`] into images.

pub mod config;
pub mod context;
pub mod copy;
