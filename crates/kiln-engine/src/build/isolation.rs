//! The seam RUN steps go through: an [`Isolation`] runs one process spec on one root
//! filesystem ([`kiln_sandbox::Sandbox`]). The engine never picks the tier itself: the
//! caller passes it in [`BuildOptions::isolation`](super::BuildOptions::isolation). The
//! embedded runtime and external OCI runtimes implement it today; a microVM, rootless or
//! chroot tier is one more implementation, and tests use a fake that runs nothing.

use super::error::BuildError;
use std::sync::Arc;

/// What runs RUN steps.
pub type Isolation = Arc<dyn kiln_sandbox::Sandbox + Send + Sync>;

/// The isolation `--runtime` asks for: the embedded runtime without one, else the OCI
/// runtime CLI `runtime` (a name in PATH or a path) with global `flags`.
pub fn open(runtime: Option<&str>, flags: &[String]) -> Result<Isolation, BuildError> {
    match runtime {
        None => Ok(Arc::new(kiln_sandbox::Embedded)),
        Some(name) => kiln_sandbox::ExternalRuntime::new(name, flags.to_vec())
            .map(|rt| Arc::new(rt) as Isolation)
            .map_err(|e| BuildError::Option {
                message: format!("--runtime {name}: {e}"),
            }),
    }
}
