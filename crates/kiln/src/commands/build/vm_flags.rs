//! `--isolation` and the `--vm-*` flags: checked with the other flags (exit 2), and the
//! VM tier opened once the store is (its kernel and initramfs are kept in `STORE/vm`).

use crate::cli_image::BuildArgs;
use crate::exit::Failure;
use kiln_engine::build::{Network, SandboxOptions};
use kiln_oci::{ErrorKind, Store};
use kiln_vm::{Accel, Vm, VmOptions};
use std::sync::Arc;

/// Whether `--isolation vm` was asked for; the combinations it cannot take are refused.
pub fn wants_vm(args: &BuildArgs, sandbox: &SandboxOptions) -> Result<bool, Failure> {
    match args.isolation.as_str() {
        "oci" => {
            let vm_flag =
                args.vm_kernel.is_some() || args.vm_initrd.is_some() || args.vm_accel != "auto";
            if vm_flag {
                return Err(Failure::usage(
                    "--vm-kernel, --vm-initrd and --vm-accel go with --isolation vm",
                ));
            }
            Ok(false)
        }
        "vm" => {
            if args.runtime.is_some() {
                return Err(Failure::usage(
                    "--runtime and --isolation vm exclude each other: the VM runs steps with kiln's own sandbox inside the guest",
                ));
            }
            if sandbox.network == Network::Host {
                return Err(Failure::usage(
                    "--network host is refused under --isolation vm: the guest has no way onto the host's network namespace (use the default network, or --isolation oci)",
                ));
            }
            accel(&args.vm_accel)?;
            Ok(true)
        }
        other => Err(Failure::usage(format!(
            "--isolation {other}: use oci (the default) or vm"
        ))),
    }
}

fn accel(s: &str) -> Result<Option<Accel>, Failure> {
    match s {
        "auto" => Ok(None),
        "kvm" => Ok(Some(Accel::Kvm)),
        "tcg" => Ok(Some(Accel::Tcg)),
        other => Err(Failure::usage(format!(
            "--vm-accel {other}: use auto, kvm or tcg"
        ))),
    }
}

/// The VM tier for this build (QEMU, the kernel, the initramfs, the accelerator).
pub fn open(args: &BuildArgs, sandbox: &SandboxOptions, store: &Store) -> Result<Arc<Vm>, Failure> {
    let opts = VmOptions {
        kernel: args.vm_kernel.clone(),
        initramfs: args.vm_initrd.clone(),
        accel: accel(&args.vm_accel)?,
        memory: sandbox.memory,
        cpus: sandbox.cpus,
        network: sandbox.network != Network::None,
        network_deny: sandbox.network_deny.clone(),
        cache: store.vm_dir(),
        scratch: std::env::temp_dir(),
    };
    Vm::open(&opts).map(Arc::new).map_err(|e| {
        Failure::new(
            ErrorKind::Io,
            format!(
                "error: --isolation vm cannot start: {e}\n = hint: scripts/deps.sh installs QEMU and Debian's kernel; or build with --isolation oci"
            ),
        )
    })
}
