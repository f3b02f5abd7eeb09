//! The guest's initramfs: kiln itself as `/init` (the guest agent), the shared libraries
//! it runs with, and the kernel modules the agent loads (virtio transport, console and
//! network, overlayfs). Built once per set of inputs and kept in the cache; the inputs are
//! named by path, size, modification time and inode, so a rebuilt kiln or another kernel
//! gives another initramfs.

use crate::cpio::Cpio;
use crate::kernel::Kernel;
use crate::VmError;
use std::path::{Path, PathBuf};

/// The modules the agent loads, by name; their dependencies come from `modules.dep`.
pub const MODULES: &[&str] = &["virtio_mmio", "virtio_console", "overlay", "virtio_net"];

/// The modules only a guest with a NIC needs: the agent skips them otherwise.
pub const NET_MODULES: &[&str] = &["failover", "net_failover", "virtio_net"];

/// Where the agent finds the module list (paths in load order, one per line).
pub const MODULE_LIST: &str = "/kiln/modules";

/// The initramfs for `kernel` with the running kiln as its agent, from the cache or made.
pub fn for_kernel(kernel: &Kernel, cache: &Path) -> Result<PathBuf, VmError> {
    let exe = std::fs::read_link("/proc/self/exe")
        .map_err(|e| VmError::io("finding kiln's own binary", Path::new("/proc/self/exe"), e))?;
    let libs = mapped_libraries();
    let modules = module_order(&kernel.modules)?;
    let mut inputs: Vec<&Path> = vec![exe.as_path()];
    inputs.extend(libs.iter().map(PathBuf::as_path));
    inputs.extend(modules.iter().map(PathBuf::as_path));
    let key = inputs_key(&kernel.release, &inputs);
    let out = cache.join(format!("initramfs-{}.cpio", &key[..32]));
    if out.exists() {
        return Ok(out);
    }
    let data = build(&exe, &libs, &modules)?;
    crate::cache::write_atomic(&out, &data)?;
    crate::cache::remove_stale(cache, "initramfs-", &out);
    Ok(out)
}

fn inputs_key(release: &str, inputs: &[&Path]) -> String {
    let head = format!("protocol {}\nrelease {release}\n", crate::message::PROTOCOL);
    crate::cache::stat_key(&head, inputs)
}

fn build(exe: &Path, libs: &[PathBuf], modules: &[PathBuf]) -> Result<Vec<u8>, VmError> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| VmError::io("reading", p, e));
    let mut c = Cpio::default();
    for d in [
        "dev",
        "proc",
        "sys",
        "tmp",
        "kiln",
        "usr",
        "usr/lib",
        "usr/lib64",
        "etc",
    ] {
        c.dir(d, 0o755);
    }
    c.symlink("lib", "usr/lib");
    c.symlink("lib64", "usr/lib64");
    let exe_data = read(exe)?;
    if let Some(interp) = interpreter(&exe_data) {
        add_file(
            &mut c,
            &usr_path(&interp),
            &read(Path::new(&interp))?,
            0o755,
        );
    }
    c.file("init", 0o755, &loadable_part(exe_data));
    for lib in libs {
        add_file(
            &mut c,
            &usr_path(&lib.to_string_lossy()),
            &read(lib)?,
            0o755,
        );
    }
    let mut list = String::new();
    for (i, m) in modules.iter().enumerate() {
        let name = format!("kiln/mod-{i}.ko");
        c.file(&name, 0o644, &read(m)?);
        list.push_str(&format!("/{name}\n"));
    }
    c.file(MODULE_LIST.trim_start_matches('/'), 0o644, list.as_bytes());
    Ok(c.finish())
}

/// `/lib/x` as `usr/lib/x` (the initramfs has the merged /usr layout).
fn usr_path(p: &str) -> String {
    let p = p.trim_start_matches('/');
    if p.starts_with("usr/") {
        p.to_string()
    } else {
        format!("usr/{p}")
    }
}

/// Add `path` and the directories above it.
fn add_file(c: &mut Cpio, path: &str, data: &[u8], mode: u32) {
    let mut at = String::new();
    let parts: Vec<&str> = path.split('/').collect();
    for dir in &parts[..parts.len() - 1] {
        if !at.is_empty() {
            at.push('/');
        }
        at.push_str(dir);
        if !["usr", "usr/lib", "usr/lib64"].contains(&at.as_str()) {
            c.dir(&at, 0o755);
        }
    }
    c.file(path, mode, data);
}

/// The shared libraries this process has mapped (its own dependencies, loader included).
fn mapped_libraries() -> Vec<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut libs: Vec<PathBuf> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with('/') && p.contains(".so"))
        .map(PathBuf::from)
        .collect();
    libs.sort();
    libs.dedup();
    libs
}

/// An ELF executable without what only debuggers read: the file cut after the end of its
/// last segment and its section header table dropped (the kernel and the dynamic loader
/// read program headers only). A debug build of kiln shrinks from ~150 MB to ~40 MB,
/// which the guest kernel would otherwise copy out of the initramfs at every boot. Kept
/// whole when it does not parse as expected.
fn loadable_part(mut elf: Vec<u8>) -> Vec<u8> {
    let field = |elf: &[u8], o: usize, n: usize| -> Option<u64> {
        let b = elf.get(o..o + n)?;
        Some(
            b.iter()
                .rev()
                .fold(0u64, |acc, x| (acc << 8) | u64::from(*x)),
        )
    };
    let end = (|| {
        if !elf.starts_with(b"\x7fELF\x02\x01") {
            return None;
        }
        let (phoff, size, count) = (
            field(&elf, 0x20, 8)?,
            field(&elf, 0x36, 2)?,
            field(&elf, 0x38, 2)?,
        );
        let mut end = phoff + size * count;
        for i in 0..count {
            let ph = (phoff + i * size) as usize;
            end = end.max(field(&elf, ph + 8, 8)? + field(&elf, ph + 32, 8)?);
        }
        (end as usize <= elf.len()).then_some(end as usize)
    })();
    if let Some(end) = end {
        elf.truncate(end);
        // e_shoff, e_shnum, e_shstrndx: no section headers.
        elf[0x28..0x30].fill(0);
        elf[0x3c..0x40].fill(0);
    }
    elf
}

/// The ELF program interpreter (`PT_INTERP`) of a 64-bit executable.
fn interpreter(elf: &[u8]) -> Option<String> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    if !elf.starts_with(b"\x7fELF\x02") {
        return None;
    }
    let (phoff, size, count) = (u64_at(0x20)? as usize, u16_at(0x36)?, u16_at(0x38)?);
    (0..usize::from(count)).find_map(|i| {
        let ph = phoff + i * usize::from(size);
        (u32_at(ph)? == 3).then_some(())?;
        let (off, len) = (u64_at(ph + 8)? as usize, u64_at(ph + 32)? as usize);
        let raw = elf.get(off..off + len)?;
        let s = std::str::from_utf8(raw).ok()?.trim_end_matches('\0');
        Some(s.to_string())
    })
}

/// The files of [`MODULES`] and their dependencies, each after what it needs.
fn module_order(dir: &Path) -> Result<Vec<PathBuf>, VmError> {
    let dep_file = dir.join("modules.dep");
    let text = std::fs::read_to_string(&dep_file)
        .map_err(|e| VmError::io("reading the guest kernel's module list", &dep_file, e))?;
    let deps: Vec<(&str, Vec<&str>)> = text
        .lines()
        .filter_map(|l| {
            let (m, d) = l.split_once(':')?;
            Some((m.trim(), d.split_whitespace().collect()))
        })
        .collect();
    let name_of = |path: &str| {
        let base = path.rsplit('/').next().unwrap_or(path);
        base.split(".ko").next().unwrap_or(base).replace('-', "_")
    };
    let mut order: Vec<String> = Vec::new();
    fn visit(m: &str, deps: &[(&str, Vec<&str>)], order: &mut Vec<String>) {
        if order.iter().any(|o| o == m) {
            return;
        }
        if let Some((_, ds)) = deps.iter().find(|(p, _)| *p == m) {
            for d in ds.iter().rev() {
                visit(d, deps, order);
            }
        }
        order.push(m.to_string());
    }
    for want in MODULES {
        let (path, _) = deps
            .iter()
            .find(|(p, _)| name_of(p) == *want)
            .ok_or_else(|| VmError::Kernel {
                what: format!(
                    "the guest kernel has no module {want} in {}; use a kernel with virtio and overlayfs (Debian's linux-image-amd64)",
                    dep_file.display()
                ),
            })?;
        visit(path, &deps, &mut order);
    }
    Ok(order.into_iter().map(|p| dir.join(p)).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn modules_come_after_their_dependencies() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("modules.dep"),
            "kernel/v/virtio_mmio.ko: kernel/v/virtio.ko kernel/v/virtio_ring.ko\n\
             kernel/v/virtio.ko:\nkernel/v/virtio_ring.ko:\n\
             kernel/c/virtio_console.ko: kernel/v/virtio.ko kernel/v/virtio_ring.ko\n\
             kernel/n/virtio_net.ko: kernel/n/net_failover.ko kernel/n/failover.ko kernel/v/virtio.ko kernel/v/virtio_ring.ko\n\
             kernel/n/net_failover.ko: kernel/n/failover.ko\nkernel/n/failover.ko:\n\
             kernel/fs/overlay.ko:\n",
        )
        .unwrap();
        let order: Vec<String> = module_order(d.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            order,
            [
                "virtio_ring.ko",
                "virtio.ko",
                "virtio_mmio.ko",
                "virtio_console.ko",
                "overlay.ko",
                "failover.ko",
                "net_failover.ko",
                "virtio_net.ko"
            ]
        );
        std::fs::write(d.path().join("modules.dep"), "kernel/fs/overlay.ko:\n").unwrap();
        let e = module_order(d.path()).unwrap_err().to_string();
        assert!(e.contains("no module virtio_mmio"), "{e}");
    }

    #[test]
    fn this_binary_names_its_loader() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let interp = interpreter(&exe).unwrap();
        assert!(
            interp.starts_with("/lib") && interp.contains("ld-linux"),
            "{interp}"
        );
        assert!(mapped_libraries()
            .iter()
            .any(|l| l.to_string_lossy().contains("libc.so")));
    }
}
