//! kiln's build engine: runs a [`kiln_dockerfile::plan::Plan`] into images.

mod accounts;
pub mod build;
pub mod config;
pub mod context;
pub mod copy;
pub mod guest;
pub mod image_ops;
pub mod snapshot;
pub mod squash;

pub use build::{
    build, BuildError, BuildOptions, Built, Failed, Isolation, Output, SandboxOptions,
};
