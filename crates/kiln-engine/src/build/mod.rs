//! `kiln build`: Dockerfile + context -> image in the store (and extra outputs).
//!
//! The way through: [`build`] reads the Dockerfile and plans it (`driver.rs`), makes the
//! build's state (`state.rs`: what is fixed, the services steps use, progress), runs the
//! stages (`schedule.rs`, `stage.rs`), each instruction through the step cache (`step.rs`)
//! to its executor (`run.rs` through the [`Isolation`] seam, `copy_step.rs`), and
//! finally stores the image and writes the outputs (`driver.rs`, `output.rs`).

mod base;
pub mod cache_key;
mod copy_step;
mod driver;
pub mod duration;
mod entitlements;
pub mod error;
mod export_dir;
mod images;
pub mod isolation;
mod layer;
mod lines;
mod mount_from;
pub mod mounts;
mod options;
mod outcome;
pub(crate) mod output;
pub mod progress;
mod remote_cache;
pub(crate) mod run;
mod run_command;
mod schedule;
mod services;
mod stage;
mod state;
mod step;
mod step_records;
mod view;
mod vm_run;

#[cfg(test)]
mod tests;

pub use base::{Resolve, Rootfs};
pub use error::BuildError;
pub use export_dir::export_rootfs;
pub use isolation::Isolation;
pub use layer::DEFAULT_MAX_LAYER_SIZE;
pub use options::{
    BuildOptions, DockerfileHook, Network, Output, SandboxOptions, Squash, DEFAULT_PIDS_LIMIT,
};
pub use outcome::{Built, Failed};
pub use run::StorageDriver;

/// Build. On failure the error comes with the Dockerfile for showing where it failed.
pub fn build(store: &kiln_oci::Store, opts: BuildOptions) -> Result<Built, Failed> {
    let mut dockerfile = None;
    let r = driver::run(store, opts, &mut dockerfile);
    r.map_err(|error| Failed { error, dockerfile })
}
