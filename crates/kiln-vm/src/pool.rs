//! The VM tier of one build: the guest's kernel, initramfs and accelerator, found once,
//! and one guest per stage, booted at the stage's first RUN step and kept for its next
//! ones. One guest per stage, not per build: a step that subverts its guest can then only
//! touch the steps after it in its own stage, whose cache keys already include its layer;
//! parallel stages and other builds never share a guest with it.

use crate::kernel::Kernel;
use crate::machine::{Accel, Machine, MachineSpec, BOOT_TIMEOUT};
use crate::session::Session;
use crate::VmError;
use kiln_sandbox::netpolicy::{NetworkPolicy, PolicyCgroup, MOUNTINFO};
use kiln_sandbox::Cidr;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Memory the guest has beyond `--memory`: its tmpfs holds the stage's layers and the
/// step's changes, and the agent runs beside the step.
const HEADROOM_MIB: u64 = 1024;

/// What `--isolation vm` was given.
#[derive(Debug, Clone, Default)]
pub struct VmOptions {
    /// `--vm-kernel`.
    pub kernel: Option<PathBuf>,
    /// `--vm-initrd`: an initramfs to boot instead of the one kiln makes.
    pub initramfs: Option<PathBuf>,
    /// Force an accelerator instead of probing.
    pub accel: Option<Accel>,
    /// `--memory` in bytes.
    pub memory: Option<u64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// Give guests a NIC (the build's network is not `none`).
    pub network: bool,
    /// `--network-deny`.
    pub network_deny: Vec<Cidr>,
    /// Where the kernel and initramfs are kept (`STORE/vm`).
    pub cache: PathBuf,
    /// Where a running guest's files live.
    pub scratch: PathBuf,
}

/// The VM tier of a build.
#[derive(Debug)]
pub struct Vm {
    spec: MachineSpec,
    release: String,
    network_deny: Vec<Cidr>,
    idle: Mutex<HashMap<usize, Session>>,
}

impl Vm {
    /// Find QEMU and the guest kernel, make (or find) the initramfs, pick the accelerator.
    pub fn open(opts: &VmOptions) -> Result<Vm, VmError> {
        let qemu = find_qemu()?;
        let kernel = Kernel::find(opts.kernel.as_deref())?;
        let initramfs = match &opts.initramfs {
            Some(p) => p.clone(),
            None => crate::initramfs::for_kernel(&kernel, &opts.cache)?,
        };
        let memory_mib = opts.memory.map_or(1024, |m| (m >> 20).max(256)) + HEADROOM_MIB;
        let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let cpus = opts
            .cpus
            .map_or(host_cpus, |c| c.ceil().max(1.0) as u32)
            .min(host_cpus.max(1));
        let mut spec = MachineSpec {
            qemu,
            kernel: kernel.bootable(&opts.cache)?,
            initramfs,
            accel: Accel::Tcg,
            memory_mib,
            cpus,
            network: opts.network,
            scratch: opts.scratch.clone(),
            boot_timeout: BOOT_TIMEOUT,
        };
        spec.accel = opts.accel.unwrap_or_else(|| crate::accel::choose(&spec));
        Ok(Vm {
            spec,
            release: kernel.release,
            network_deny: opts.network_deny.clone(),
            idle: Mutex::new(HashMap::new()),
        })
    }

    /// One line for the build's first progress line and `kiln info`.
    pub fn describe(&self) -> String {
        format!(
            "isolation vm: QEMU microvm, {}, kernel {}, {} MiB, {} CPU{}",
            self.spec.accel.name(),
            self.release,
            self.spec.memory_mib,
            self.spec.cpus,
            if self.spec.cpus == 1 { "" } else { "s" }
        )
    }

    pub fn accel(&self) -> Accel {
        self.spec.accel
    }

    /// The guest of stage `stage`: the one kept from its last step, else a new one (whose
    /// boot `cancel` ends).
    pub fn session(
        &self,
        stage: usize,
        cancel: Option<&kiln_sandbox::Cancel>,
    ) -> Result<Session, VmError> {
        if let Some(s) = self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&stage)
        {
            return Ok(s);
        }
        let cgroup = if self.spec.network {
            let policy = NetworkPolicy::for_host(&self.network_deny)?;
            Some(PolicyCgroup::create(&policy, Path::new(MOUNTINFO))?)
        } else {
            None
        };
        Ok(Session::new(Machine::boot(&self.spec, cgroup, cancel)?))
    }

    /// Keep the guest of `stage` for its next step.
    pub fn keep(&self, stage: usize, session: Session) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(stage, session);
    }

    /// Stage `stage` has ended: its guest (if it had one) powers off now, not at the end
    /// of the build, so a build holds at most one guest per running stage.
    pub fn release(&self, stage: usize) {
        let session = self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&stage);
        drop(session);
    }
}

/// QEMU for this host's architecture: x86_64 only for now (the guest is a `microvm`
/// machine booted from an x86 bzImage's payload; aarch64's `virt` machine is not written).
fn find_qemu() -> Result<PathBuf, VmError> {
    let arch = std::env::consts::ARCH;
    if arch != "x86_64" {
        return Err(VmError::Kernel {
            what: format!(
                "--isolation vm runs x86_64 guests only for now, and this host is {arch}: build with --isolation oci"
            ),
        });
    }
    let program = "qemu-system-x86_64";
    crate::find_program(program).ok_or(VmError::NoQemu {
        program: program.to_string(),
    })
}
