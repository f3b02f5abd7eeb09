//! `kiln info` (the RUN runtimes and the VM tier this host offers) and `kiln prune --cache-mounts`.

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
    text.push_str(&vm_line(root));
    crate::output::stdout(&text)
}

/// What `--isolation vm` would use here: QEMU, the guest kernel and the accelerator (the
/// KVM probe runs once per host boot), or why it cannot run. The guest's kernel and
/// initramfs are made in the store as a build would, so the next build finds them.
fn vm_line(root: &Option<PathBuf>) -> String {
    let store = match crate::store::open(root) {
        Ok(store) => store,
        Err(_) => return "isolation vm: not available: the store cannot be opened\n".into(),
    };
    let opts = kiln_vm::VmOptions {
        cache: store.vm_dir(),
        scratch: std::env::temp_dir(),
        ..kiln_vm::VmOptions::default()
    };
    match kiln_vm::Vm::open(&opts) {
        Ok(vm) => format!("{}\n", vm.describe()),
        Err(e) => format!("isolation vm: not available: {e}\n"),
    }
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
