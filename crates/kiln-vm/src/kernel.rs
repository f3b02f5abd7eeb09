//! The guest kernel: `--vm-kernel`, else the newest Debian kernel package installed
//! (`/boot/vmlinuz-VERSION` with `/lib/modules/VERSION`). QEMU boots an ELF `vmlinux`
//! through its PVH entry point without the bzImage's self-decompression, which under
//! software emulation costs seconds: the payload is unpacked once into the cache.

use crate::VmError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A guest kernel and the modules that go with it.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The image as given (bzImage or ELF).
    pub image: PathBuf,
    /// Its release (`6.1.0-28-amd64`).
    pub release: String,
    /// `/lib/modules/RELEASE`.
    pub modules: PathBuf,
}

impl Kernel {
    /// `path`, or the newest `/boot/vmlinuz-*` that has its modules.
    pub fn find(path: Option<&Path>) -> Result<Kernel, VmError> {
        match path {
            Some(p) => Kernel::at(p),
            None => newest(Path::new("/boot"), Path::new("/lib/modules")),
        }
    }

    fn at(image: &Path) -> Result<Kernel, VmError> {
        let data =
            std::fs::read(image).map_err(|e| VmError::io("reading the guest kernel", image, e))?;
        let release = bzimage_release(&data).ok_or_else(|| VmError::Kernel {
            what: format!(
                "{} is not a bzImage that names its release (Linux x86 boot protocol 2.x)",
                image.display()
            ),
        })?;
        let modules = Path::new("/lib/modules").join(&release);
        Ok(Kernel {
            image: image.to_path_buf(),
            release,
            modules,
        })
    }

    /// The ELF image to boot: unpacked once into `cache` (named by the image's path and
    /// metadata, so a kept one is found without reading the image).
    pub fn bootable(&self, cache: &Path) -> Result<PathBuf, VmError> {
        let read = |e| VmError::io("reading the guest kernel", &self.image, e);
        let mut magic = [0u8; 4];
        std::fs::File::open(&self.image)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .map_err(read)?;
        if &magic == b"\x7fELF" {
            return Ok(self.image.clone());
        }
        let key = crate::cache::stat_key("kernel\n", &[&self.image]);
        let out = cache.join(format!("vmlinux-{}", &key[..32]));
        if out.exists() {
            return Ok(out);
        }
        let data = std::fs::read(&self.image).map_err(read)?;
        let elf = unpack_payload(&data).ok_or_else(|| VmError::Kernel {
            what: format!(
                "{} holds no xz-compressed vmlinux (Debian's kernels do); give an ELF vmlinux with --vm-kernel",
                self.image.display()
            ),
        })?;
        crate::cache::write_atomic(&out, &elf)?;
        Ok(out)
    }
}

fn newest(boot: &Path, lib_modules: &Path) -> Result<Kernel, VmError> {
    let mut found: Vec<(Vec<u64>, String)> = std::fs::read_dir(boot)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let release = name.strip_prefix("vmlinuz-")?.to_string();
            lib_modules
                .join(&release)
                .is_dir()
                .then(|| (version_key(&release), release))
        })
        .collect();
    found.sort();
    let (_, release) = found.pop().ok_or_else(|| VmError::Kernel {
        what: format!(
            "no guest kernel: no {}/vmlinuz-VERSION with {}/VERSION; install Debian's \
             linux-image-amd64 (scripts/deps.sh does) or give --vm-kernel PATH",
            boot.display(),
            lib_modules.display()
        ),
    })?;
    Ok(Kernel {
        image: boot.join(format!("vmlinuz-{release}")),
        modules: lib_modules.join(&release),
        release,
    })
}

/// `6.1.0-28-amd64` → [6, 1, 0, 28, ...] for ordering.
fn version_key(release: &str) -> Vec<u64> {
    release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The release a bzImage names: the setup header's `kernel_version` pointer (offset 0x20e,
/// relative to 0x200) to "RELEASE (builder) #1 ...".
fn bzimage_release(data: &[u8]) -> Option<String> {
    if data.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let ptr = u16::from_le_bytes([*data.get(0x20e)?, *data.get(0x20f)?]) as usize + 0x200;
    let text = data.get(ptr..ptr.checked_add(256)?.min(data.len()))?;
    let end = text.iter().position(|b| *b == b' ' || *b == 0)?;
    let release = std::str::from_utf8(&text[..end]).ok()?;
    let ok = !release.is_empty()
        && release
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-~".contains(c));
    ok.then(|| release.to_string())
}

/// The ELF kernel inside a bzImage: the first xz stream that unpacks to an ELF file.
fn unpack_payload(data: &[u8]) -> Option<Vec<u8>> {
    const XZ: &[u8] = b"\xfd7zXZ\x00";
    let mut from = 0;
    while let Some(i) = find(&data[from..], XZ) {
        let start = from + i;
        let mut out = Vec::new();
        let mut dec = liblzma::read::XzDecoder::new(&data[start..]);
        if dec.read_to_end(&mut out).is_ok() && out.starts_with(b"\x7fELF") {
            return Some(out);
        }
        from = start + 1;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_release_comes_from_the_setup_header() {
        let mut img = vec![0u8; 0x400];
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        let text = b"6.1.0-28-amd64 (debian@kernel) #1";
        img[0x300..0x300 + text.len()].copy_from_slice(text);
        assert_eq!(bzimage_release(&img).as_deref(), Some("6.1.0-28-amd64"));
        img[0x300] = b'/';
        assert_eq!(bzimage_release(&img), None, "a release that is not a name");
        assert_eq!(bzimage_release(&[0u8; 16]), None);
    }

    #[test]
    fn the_newest_kernel_with_modules_wins() {
        let d = tempfile::tempdir().unwrap();
        let (boot, lib) = (d.path().join("boot"), d.path().join("modules"));
        std::fs::create_dir_all(&boot).unwrap();
        for r in ["6.1.0-9-amd64", "6.1.0-28-amd64", "6.2.0-1-amd64"] {
            std::fs::write(boot.join(format!("vmlinuz-{r}")), b"").unwrap();
        }
        for r in ["6.1.0-9-amd64", "6.1.0-28-amd64"] {
            std::fs::create_dir_all(lib.join(r)).unwrap();
        }
        assert_eq!(newest(&boot, &lib).unwrap().release, "6.1.0-28-amd64");
        let e = newest(&lib, &boot).unwrap_err().to_string();
        assert!(
            e.contains("linux-image-amd64") && e.contains("--vm-kernel"),
            "{e}"
        );
    }
}
