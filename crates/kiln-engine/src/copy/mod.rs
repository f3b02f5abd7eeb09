//! COPY and ADD: sources from the context, another stage or an image, written into the
//! stage's root with Docker's rules.

pub mod chmod;
mod dest;
mod error;
mod exec;
pub mod owner;
pub mod sources;
mod tree;
pub mod url;
mod url_policy;

pub use error::CopyError;
pub use exec::{copy, copy_to_layer, mkdir_to_layer, needs_root, CopyRequest, Inline, NewDirs};
