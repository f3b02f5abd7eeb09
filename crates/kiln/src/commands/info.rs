//! `kiln info` (the RUN runtimes this host offers) and `kiln prune --cache-mounts`.

use crate::exit::Failure;
use kiln_oci::Store;
use std::path::PathBuf;

pub fn info(root: &Option<PathBuf>) -> Result<(), Failure> {
    let store = root.clone().unwrap_or_else(Store::default_root);
    let mut text = format!(
        "store: {}\nruntimes (--runtime NAME|PATH):\n",
        store.display()
    );
    text.push_str(&format!(
        "  {:<10} {:<24} {}\n",
        "embedded",
        "(built in, the default)",
        "namespaces, Docker's seccomp profile and capabilities, cgroup limits"
    ));
    for rt in kiln_sandbox::list_runtimes() {
        text.push_str(&format!(
            "  {:<10} {:<24} {}\n",
            rt.name,
            rt.path.display(),
            rt.version
        ));
    }
    crate::output::stdout(&text)
}

/// `kiln prune --cache-mounts`.
pub fn prune_cache_mounts(root: &Option<PathBuf>) -> Result<(), Failure> {
    let store = crate::store::open(root)?;
    let pruned = store
        .prune_cache_mounts()
        .map_err(|e| crate::store::failure("pruning cache mounts", e))?;
    let mut text = format!(
        "removed {} cache mount{} ({} bytes)\n",
        pruned.caches,
        if pruned.caches == 1 { "" } else { "s" },
        pruned.bytes
    );
    if pruned.busy > 0 {
        text.push_str(&format!("kept {} in use by a running build\n", pruned.busy));
    }
    crate::output::stdout(&text)
}
