//! Image configuration: the model and how each Dockerfile instruction changes it.

pub mod apply;
pub mod model;

pub use model::{HealthConfig, History, ImageConfig, RootFs, RunConfig};
