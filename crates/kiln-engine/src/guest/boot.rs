//! The guest's start, as PID 1 of the initramfs: the kernel filesystems, the modules from
//! the initramfs's list (`finit_module`), the network (QEMU's user-mode addresses, set
//! by ioctl), the channel's serial port; then the root moves to a fresh tmpfs (the
//! sandbox's `pivot_root` cannot leave the initramfs's rootfs) and the kernel filesystems
//! and cgroup v2 are mounted there.

use rustix::mount::{self, MountFlags};
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The guest's address on QEMU's user-mode network, its gateway and its DNS forwarder.
const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
const PREFIX: u8 = 24;
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub(crate) const NAMESERVER: &str = "10.0.2.3";

/// What the initramfs carries besides kiln.
const MODULE_LIST: &str = kiln_vm::initramfs::MODULE_LIST;
/// The serial port's name (QEMU's `virtserialport,name=`).
const PORT_NAME: &str = "kiln.agent";

type Result<T> = std::result::Result<T, String>;

/// Bring the guest up; the channel to the host.
pub(crate) fn start() -> Result<File> {
    kernel_filesystems("")?;
    load_modules()?;
    network()?;
    let channel = open_port()?;
    move_root()?;
    kernel_filesystems("")?;
    cgroups()?;
    Ok(channel)
}

fn mount_fs(fs: &str, target: &str, flags: MountFlags, data: &str) -> Result<()> {
    let _ = std::fs::create_dir_all(target);
    let data = std::ffi::CString::new(data).map_err(|e| e.to_string())?;
    mount::mount(fs, target, fs, flags, data.as_c_str())
        .map_err(|e| format!("mounting {fs} on {target}: {e}"))
}

fn kernel_filesystems(prefix: &str) -> Result<()> {
    let hard = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV;
    mount_fs("proc", &format!("{prefix}/proc"), hard, "")?;
    mount_fs("sysfs", &format!("{prefix}/sys"), hard, "")?;
    mount_fs(
        "devtmpfs",
        &format!("{prefix}/dev"),
        MountFlags::NOSUID,
        "mode=0755",
    )
}

/// The modules, in the list's order; the kernel command line's `NAME.param=value` for a
/// module (virtio_mmio's devices on a microvm) go with it, as modprobe would pass them.
fn load_modules() -> Result<()> {
    let list = std::fs::read_to_string(MODULE_LIST).map_err(|e| format!("{MODULE_LIST}: {e}"))?;
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let net = has_nic();
    for path in list.lines().filter(|l| !l.is_empty()) {
        let name = module_name(path)?;
        if !net && kiln_vm::initramfs::NET_MODULES.contains(&name.as_str()) {
            continue;
        }
        let prefix = format!("{name}.");
        let params: Vec<&str> = cmdline
            .split_whitespace()
            .filter_map(|w| w.strip_prefix(&prefix))
            .collect();
        kiln_vm::kmod::load_module(Path::new(path), &params.join(" "))
            .map_err(|e| format!("loading {name} ({path}): {e}"))?;
    }
    Ok(())
}

/// The module name inside a `.ko` file (its `.modinfo` section's `name=`).
fn module_name(path: &str) -> Result<String> {
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let key = b"\0name=";
    let at = data
        .windows(key.len())
        .position(|w| w == key)
        .ok_or_else(|| format!("{path}: no module name"))?;
    let rest = &data[at + key.len()..];
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// Whether the guest has a NIC (QEMU's user-mode network): what the host put on the
/// kernel command line, read once; never what a step may have renamed since.
pub(super) fn has_nic() -> bool {
    static NIC: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *NIC.get_or_init(|| {
        std::fs::read_to_string("/proc/cmdline")
            .unwrap_or_default()
            .split_whitespace()
            .any(|w| w == kiln_vm::machine::NET_FLAG)
    })
}

fn network() -> Result<()> {
    use kiln_sandbox::netif;
    fn fail(what: &'static str) -> impl Fn(rustix::io::Errno) -> String {
        move |e| format!("{what}: {e}")
    }
    netif::link_up("lo").map_err(fail("bringing lo up"))?;
    if !has_nic() {
        return Ok(());
    }
    netif::link_up("eth0").map_err(fail("bringing eth0 up"))?;
    netif::set_ipv4("eth0", ADDRESS, PREFIX).map_err(fail("addressing eth0"))?;
    netif::add_default_route(GATEWAY).map_err(fail("the default route"))
}

/// The virtio serial port named [`PORT_NAME`] (it appears once its driver probed it).
fn open_port() -> Result<File> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(dev) = find_port() {
            return std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&dev)
                .map_err(|e| format!("{}: {e}", dev.display()));
        }
        if Instant::now() > deadline {
            return Err(format!("no virtio serial port named {PORT_NAME}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn find_port() -> Option<PathBuf> {
    std::fs::read_dir("/sys/class/virtio-ports")
        .ok()?
        .flatten()
        .find(|e| {
            std::fs::read_to_string(e.path().join("name")).is_ok_and(|n| n.trim() == PORT_NAME)
        })
        .map(|e| Path::new("/dev").join(e.file_name()))
}

/// Move `/` to a new tmpfs: what the agent needs is loaded already.
fn move_root() -> Result<()> {
    for fs in ["/dev", "/sys", "/proc"] {
        let _ = mount::unmount(fs, mount::UnmountFlags::DETACH);
    }
    mount_fs("tmpfs", "/newroot", MountFlags::empty(), "mode=0755")?;
    std::env::set_current_dir("/newroot").map_err(|e| format!("/newroot: {e}"))?;
    mount::mount_move(".", "/").map_err(|e| format!("moving the root: {e}"))?;
    rustix::process::chroot(".").map_err(|e| format!("chroot: {e}"))?;
    std::env::set_current_dir("/").map_err(|e| format!("/: {e}"))?;
    for d in ["/tmp", "/kiln/layers", "/kiln/steps", "/etc"] {
        std::fs::create_dir_all(d).map_err(|e| format!("{d}: {e}"))?;
    }
    Ok(())
}

/// cgroup v2 with the controllers the step's limits use.
fn cgroups() -> Result<()> {
    let hard = MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NODEV;
    mount_fs("cgroup2", "/sys/fs/cgroup", hard, "")?;
    std::fs::write(
        "/sys/fs/cgroup/cgroup.subtree_control",
        "+cpu +memory +pids",
    )
    .map_err(|e| format!("enabling cgroup controllers: {e}"))
}
