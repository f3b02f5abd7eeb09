//! Which accelerator QEMU uses: KVM when `/dev/kvm` runs a standard guest, else software
//! emulation (TCG). Some hosts have a `/dev/kvm` that opens but cannot boot a standard
//! kernel (nested or paravirtual devices), so the answer comes from booting the guest
//! once under KVM with a short limit. It is kept per host boot (under `/run`, or
//! `$XDG_RUNTIME_DIR` for a user), named by the kernel, QEMU and `/dev/kvm` it was found
//! with.

use crate::machine::{Accel, Machine, MachineSpec};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the probe's guest may take to say hello under KVM (a KVM boot takes well
/// under a second; a device that cannot run the guest never answers).
const PROBE_TIMEOUT: Duration = Duration::from_secs(8);

/// The accelerator for guests like `spec` (its `accel` is ignored).
pub fn choose(spec: &MachineSpec) -> Accel {
    let kvm = Path::new("/dev/kvm");
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(kvm)
        .is_err()
    {
        return Accel::Tcg;
    }
    let record = record_path(spec, kvm);
    match record
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .as_deref()
    {
        Some("kvm") => return Accel::Kvm,
        Some("tcg") => return Accel::Tcg,
        _ => {}
    }
    let accel = probe(spec);
    if let Some(p) = record {
        let name = if accel == Accel::Kvm { "kvm" } else { "tcg" };
        let _ = crate::cache::write_atomic(&p, name.as_bytes());
    }
    accel
}

fn probe(spec: &MachineSpec) -> Accel {
    let spec = MachineSpec {
        accel: Accel::Kvm,
        network: false,
        memory_mib: 512,
        boot_timeout: PROBE_TIMEOUT,
        ..spec.clone()
    };
    match Machine::boot(&spec, None, None) {
        Ok(_) => Accel::Kvm,
        Err(_) => Accel::Tcg,
    }
}

fn record_path(spec: &MachineSpec, kvm: &Path) -> Option<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !rustix::process::getuid().is_root() => PathBuf::from(d).join("kiln"),
        _ => PathBuf::from("/run/kiln"),
    };
    let stamp = |p: &Path| {
        let m = std::fs::metadata(p).ok();
        m.map_or((0, 0, 0), |m| (m.size(), m.mtime(), m.rdev()))
    };
    let text = format!(
        "{:?} {:?} {:?} {:?}",
        stamp(&spec.kernel),
        stamp(&spec.qemu),
        stamp(kvm),
        rustix::system::uname().release()
    );
    Some(dir.join(format!(
        "kvm-probe-{}",
        &crate::cache::digest_hex(text.as_bytes())[..24]
    )))
}
