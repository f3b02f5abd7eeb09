//! The services the steps of one build use: the store and its scratch space, the step
//! cache (with the `--cache-from` fallback), the digests of context files, the image
//! resolver, the shared network and the isolation RUN steps run in.

use super::images::Images;
use super::isolation::Isolation;
use super::step_records::StepRecords;
use crate::context::stat_cache::StatCache;
use kiln_oci::Store;
use std::path::Path;
use std::sync::OnceLock;

pub(crate) struct Services<'a> {
    pub store: &'a Store,
    /// The build's own temporary directory in the store (removed when the build ends).
    pub scratch: &'a Path,
    /// Step records: the store's, else the `--cache-from` caches'.
    pub steps: StepRecords<'a>,
    /// Content digests of context files.
    pub stat: StatCache,
    /// Image names resolved once per build, and their unpacked root filesystems.
    pub images: Images<'a>,
    /// The private network RUN steps share.
    pub network: NetworkSlot,
    /// What runs RUN steps (the embedded runtime, an external OCI runtime, ...).
    pub isolation: Isolation,
    /// `--isolation vm`: the build's guests (RUN goes there instead of `isolation`).
    pub vm: Option<std::sync::Arc<kiln_vm::Vm>>,
}

/// The private network RUN steps share, started by the first step that needs it (`None`
/// inside when it could not start: each step then makes its own and reports why that
/// failed).
#[derive(Default)]
pub(crate) struct NetworkSlot {
    network: OnceLock<Option<kiln_sandbox::SharedNetwork>>,
}

impl NetworkSlot {
    /// The build's shared private network (see [`kiln_sandbox::SharedNetwork`]).
    pub fn shared(&self, deny: &[kiln_sandbox::Cidr]) -> Option<&kiln_sandbox::SharedNetwork> {
        self.network
            .get_or_init(|| kiln_sandbox::SharedNetwork::start(deny).ok())
            .as_ref()
    }
}
