//! Kernel overlayfs mounts, unmounted on drop.
//!
//! **Deep stacks.** The classic `mount(2)` call passes all options in one
//! page (4096 bytes), so `lowerdir=/long/path/1:/long/path/2:...` runs out
//! after a few dozen layers (and `fsconfig` string values are capped at 256
//! bytes, so one `lowerdir=` string through the new API is worse). We use
//! the new mount API with **one `fsconfig(FSCONFIG_SET_STRING, "lowerdir+",
//! path)` call per lower layer** (Linux 6.8+): no total length limit, only
//! overlayfs' own limit of [`MAX_LOWERS`] layers. No `chdir`, no symlinks.
//!
//! Fallback for older kernels: `mount(2)`. If the plain paths do not fit
//! one page, a symlink farm `<target>.kiln-lowers/` with base-36 names
//! (`0`, `1`, ..., `a3`) is created and the options name the layers as
//! `/proc/self/fd/<fd of the farm>/<name>`: about 20 bytes a layer, so
//! roughly 190 layers fit, still without `chdir` (which would be
//! process-wide). The farm is removed right after the mount call: the
//! mount holds the layer directories themselves.
//!
//! Options: `redirect_dir=off`, `metacopy=off`, `index=off` so that the
//! upper directory holds only plain copies, 0:0 character-device whiteouts
//! and `trusted.overlay.opaque` markers: what [`super::diff_overlay_upper`]
//! understands. Renaming a lower directory then fails with `EXDEV` and
//! tools fall back to copy and delete, as `mv` does. The mount source is
//! `kiln`, so `grep kiln /proc/mounts` lists leftovers.

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::CWD;
use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, unmount, FsMountFlags,
    FsOpenFlags, MountAttrFlags, MoveMountFlags, UnmountFlags,
};

use super::{Error, Result};

/// Most lower layers overlayfs stacks (`OVL_MAX_STACK`).
pub const MAX_LOWERS: usize = 500;

/// Size of the option page of `mount(2)`.
const PAGE: usize = 4096;

/// An overlay mount at a directory; unmounted when dropped.
#[derive(Debug)]
pub struct OverlaySnapshot {
    target: PathBuf,
    mounted: bool,
    /// Empty bottom layer we created (removed after unmounting).
    empty: Option<PathBuf>,
}

struct Spec<'a> {
    lowers: &'a [PathBuf],
    upper: Option<(&'a Path, &'a Path)>,
    target: &'a Path,
}

fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

impl OverlaySnapshot {
    /// Mount a writable overlay of `lowers` (bottom layer first) with
    /// `upper` and `work` (empty, same filesystem as `upper`) at `target`
    /// (an existing directory). Needs root.
    pub fn mount(
        lowers: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> Result<OverlaySnapshot> {
        do_mount(&Spec {
            lowers,
            upper: Some((upper, work)),
            target,
        })
    }

    /// Mount a read-only overlay of `lowers` (bottom first) at `target`:
    /// the merged view before a step, for [`super::diff_overlay_upper`].
    /// Overlayfs refuses a single lower without an upper; then an empty
    /// directory `<target>.kiln-empty` is created as the bottom layer and
    /// removed on unmount.
    pub fn mount_readonly(lowers: &[PathBuf], target: &Path) -> Result<OverlaySnapshot> {
        if lowers.len() != 1 {
            return do_mount(&Spec {
                lowers,
                upper: None,
                target,
            });
        }
        let mut name = target.as_os_str().to_os_string();
        name.push(".kiln-empty");
        let empty = PathBuf::from(name);
        std::fs::create_dir(&empty).map_err(|source| Error::Mount {
            target: target.to_path_buf(),
            what: format!("create the empty bottom layer {}", empty.display()),
            source,
        })?;
        let both = [empty.clone(), lowers[0].clone()];
        match do_mount(&Spec {
            lowers: &both,
            upper: None,
            target,
        }) {
            Ok(mut m) => {
                m.empty = Some(empty);
                Ok(m)
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&empty);
                Err(e)
            }
        }
    }

    /// The mount point.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Unmount now, reporting failure (dropping unmounts too, lazily if busy).
    pub fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        let r = unmount_settled(&self.target).map_err(|e| Error::Unmount {
            target: self.target.clone(),
            source: errno(e),
        });
        if r.is_ok() {
            if let Some(e) = self.empty.take() {
                let _ = std::fs::remove_dir(e);
            }
        }
        r
    }
}

/// Unmount `target`, which kiln no longer uses. A step starting in another stage at the
/// same moment can hold it briefly: its fork copies this process's descriptors until it
/// closes them before exec. Such a busy mount is tried again for up to 2 s; a mount still
/// busy then is reported (something else uses it: the caller must not read the upper
/// directory as if the step were done).
fn unmount_settled(target: &Path) -> rustix::io::Result<()> {
    let mut r = unmount(target, UnmountFlags::empty());
    for _ in 0..100 {
        if r != Err(rustix::io::Errno::BUSY) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        r = unmount(target, UnmountFlags::empty());
    }
    r
}

impl Drop for OverlaySnapshot {
    fn drop(&mut self) {
        if self.mounted {
            self.mounted = false;
            if unmount(&self.target, UnmountFlags::empty()).is_err() {
                let _ = unmount(&self.target, UnmountFlags::DETACH);
            }
        }
        if let Some(e) = self.empty.take() {
            let _ = std::fs::remove_dir(e);
        }
    }
}

/// True if this kernel and process can mount overlayfs (probed with a
/// throw-away mount under `scratch`, an existing empty directory).
pub fn overlay_supported(scratch: &Path) -> bool {
    let dirs = ["l1", "l2", "m"].map(|d| scratch.join(d));
    for d in &dirs {
        if std::fs::create_dir_all(d).is_err() {
            return false;
        }
    }
    let lowers = [dirs[0].clone(), dirs[1].clone()];
    let ok = OverlaySnapshot::mount_readonly(&lowers, &dirs[2])
        .and_then(OverlaySnapshot::unmount)
        .is_ok();
    for d in &dirs {
        let _ = std::fs::remove_dir(d);
    }
    ok
}

/// How to hand the lower layers to the kernel (normally [`MountApi::Auto`];
/// [`MountApi::Legacy`] exists to test the fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountApi {
    /// `lowerdir+` per layer, else `mount(2)`.
    #[default]
    Auto,
    /// `mount(2)` with all options in one page (kernels before 6.8).
    Legacy,
}

/// [`OverlaySnapshot::mount`] / [`OverlaySnapshot::mount_readonly`] (no
/// `upper_work`) with an explicit [`MountApi`].
pub fn mount_with(
    api: MountApi,
    lowers: &[PathBuf],
    upper_work: Option<(&Path, &Path)>,
    target: &Path,
) -> Result<OverlaySnapshot> {
    let s = Spec {
        lowers,
        upper: upper_work,
        target,
    };
    match api {
        MountApi::Auto => do_mount(&s),
        MountApi::Legacy => mount_legacy(&s),
    }
}

fn do_mount(s: &Spec<'_>) -> Result<OverlaySnapshot> {
    if s.lowers.len() > MAX_LOWERS {
        return Err(Error::TooManyLowers {
            target: s.target.to_path_buf(),
            count: s.lowers.len(),
        });
    }
    if LEGACY_ONLY.load(Ordering::Relaxed) {
        return mount_legacy(s);
    }
    match mount_new_api(s) {
        Ok(m) => Ok(m),
        // No new mount API, or no `lowerdir+` (Linux < 6.8): mount(2). Once mount(2) has
        // mounted what the new API refused, the kernel is known to lack it: later mounts
        // go straight to mount(2) (the refused attempt cost 5 + one per layer system calls,
        // a few milliseconds of every step in an emulated guest).
        Err(NewApi::NoApi | NewApi::NoLowerdirPlus) => {
            let mounted = mount_legacy(s)?;
            LEGACY_ONLY.store(true, Ordering::Relaxed);
            Ok(mounted)
        }
        Err(NewApi::Failed(err)) => Err(err),
    }
}

/// Set once this kernel is known to lack `lowerdir+` (or the new mount API).
static LEGACY_ONLY: AtomicBool = AtomicBool::new(false);

fn mount_err(s: &Spec<'_>, what: &str, e: rustix::io::Errno, msg: &str) -> Error {
    let what = if msg.is_empty() {
        what.to_string()
    } else {
        format!("{what} (kernel: {msg})")
    };
    Error::Mount {
        target: s.target.to_path_buf(),
        what,
        source: errno(e),
    }
}

enum NewApi {
    /// fsopen is not available.
    NoApi,
    /// The kernel does not know `lowerdir+`.
    NoLowerdirPlus,
    Failed(Error),
}

/// Kernel messages queued on an fs context descriptor.
fn kernel_log(fd: &std::os::fd::OwnedFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = rustix::io::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
        if !out.is_empty() {
            out.push(b';');
            out.push(b' ');
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mount_new_api(s: &Spec<'_>) -> std::result::Result<OverlaySnapshot, NewApi> {
    let fs = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fd) => fd,
        Err(e) if e == rustix::io::Errno::NOSYS => return Err(NewApi::NoApi),
        Err(e) => {
            return Err(NewApi::Failed(mount_err(
                s,
                "open overlay filesystem context (is overlayfs available and are we root?)",
                e,
                "",
            )))
        }
    };
    let fail = |what: &str, e| NewApi::Failed(mount_err(s, what, e, &kernel_log(&fs)));
    fsconfig_set_string(&fs, "source", "kiln").map_err(|e| fail("set source", e))?;
    // Top-most lower first, as in `lowerdir=top:...:bottom`.
    for l in s.lowers.iter().rev() {
        if let Err(e) = fsconfig_set_string(&fs, "lowerdir+", l.as_path()) {
            if e == rustix::io::Errno::INVAL && kernel_log(&fs).contains("Unknown parameter") {
                return Err(NewApi::NoLowerdirPlus);
            }
            return Err(fail(&format!("add lower layer {}", l.display()), e));
        }
    }
    if let Some((upper, work)) = s.upper {
        fsconfig_set_string(&fs, "upperdir", upper).map_err(|e| fail("set upperdir", e))?;
        fsconfig_set_string(&fs, "workdir", work).map_err(|e| fail("set workdir", e))?;
    }
    for (k, v) in [
        ("redirect_dir", "off"),
        ("index", "off"),
        ("metacopy", "off"),
    ] {
        fsconfig_set_string(&fs, k, v).map_err(|e| fail(&format!("set {k}={v}"), e))?;
    }
    if let Err(e) = fsconfig_create(&fs) {
        // Kernels before 6.5 take the options as legacy mount data and only refuse the
        // unknown `lowerdir+` when the filesystem is created, telling why only in the
        // kernel log: mount(2) then tries, and its error is the one reported.
        if e == rustix::io::Errno::INVAL {
            return Err(NewApi::NoLowerdirPlus);
        }
        return Err(fail("create overlay", e));
    }
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(|e| fail("fsmount", e))?;
    move_mount(
        &mnt,
        "",
        CWD,
        s.target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| fail("attach mount", e))?;
    Ok(OverlaySnapshot {
        target: s.target.to_path_buf(),
        mounted: true,
        empty: None,
    })
}

/// `lowerdir=` value: top-most first, `:`, `,` and `\\` escaped.
fn lowerdir_string(lowers: &[PathBuf]) -> String {
    lowers
        .iter()
        .rev()
        .map(|l| escape(l))
        .collect::<Vec<_>>()
        .join(":")
}

fn mount_legacy(s: &Spec<'_>) -> Result<OverlaySnapshot> {
    let mut tail = String::new();
    if let Some((upper, work)) = s.upper {
        tail.push_str(&format!(
            ",upperdir={},workdir={}",
            escape(upper),
            escape(work)
        ));
    }
    tail.push_str(",redirect_dir=off,index=off,metacopy=off");
    let direct = format!("lowerdir={}{tail}", lowerdir_string(s.lowers));
    if direct.len() < PAGE {
        return legacy_call(s, direct);
    }
    // Too long for one page: short names in a symlink farm, reached through
    // `/proc/self/fd/N` of the farm directory (no chdir).
    let mut farm = s.target.as_os_str().to_os_string();
    farm.push(".kiln-lowers");
    let farm = PathBuf::from(farm);
    let io = |what: String| {
        let target = s.target.to_path_buf();
        move |source| Error::Mount {
            target,
            what,
            source,
        }
    };
    std::fs::create_dir(&farm).map_err(io(format!("create {}", farm.display())))?;
    let result = (|| {
        for (i, l) in s.lowers.iter().enumerate() {
            std::os::unix::fs::symlink(l, farm.join(short_name(i))).map_err(io(format!(
                "link {} in {}",
                l.display(),
                farm.display()
            )))?;
        }
        let dir = std::fs::File::open(&farm).map_err(io(format!("open {}", farm.display())))?;
        let prefix = format!("/proc/self/fd/{}", dir.as_raw_fd());
        let names: Vec<PathBuf> = (0..s.lowers.len())
            .map(|i| PathBuf::from(format!("{prefix}/{}", short_name(i))))
            .collect();
        let data = format!("lowerdir={}{tail}", lowerdir_string(&names));
        if data.len() >= PAGE {
            return Err(Error::Mount {
                target: s.target.to_path_buf(),
                what: format!(
                    "{} lower layers need {} bytes of mount options even with short names, \
                     more than one page; this kernel lacks `lowerdir+` (Linux 6.8+): \
                     upgrade the kernel, squash the image, or use the vfs snapshotter",
                    s.lowers.len(),
                    data.len()
                ),
                source: io::Error::from_raw_os_error(rustix::io::Errno::TOOBIG.raw_os_error()),
            });
        }
        let r = legacy_call(s, data);
        drop(dir);
        r
    })();
    // The mount holds the layers themselves, not the links.
    let _ = std::fs::remove_dir_all(&farm);
    result
}

/// `0`..`9`, `a`..`z`, then two characters: base 36.
fn short_name(mut i: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[i % 36]);
        i /= 36;
        if i == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_string_lossy().chars() {
        if c == ':' || c == '\\' || c == ',' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn legacy_call(s: &Spec<'_>, data: String) -> Result<OverlaySnapshot> {
    let flags = if s.upper.is_none() {
        rustix::mount::MountFlags::RDONLY
    } else {
        rustix::mount::MountFlags::empty()
    };
    let data = std::ffi::CString::new(data).map_err(|_| Error::Mount {
        target: s.target.to_path_buf(),
        what: "a layer path contains a NUL byte".into(),
        source: io::Error::from_raw_os_error(rustix::io::Errno::INVAL.raw_os_error()),
    })?;
    rustix::mount::mount("kiln", s.target, "overlay", flags, data.as_c_str())
        .map_err(|e| mount_err(s, "mount(2) overlay", e, ""))?;
    Ok(OverlaySnapshot {
        target: s.target.to_path_buf(),
        mounted: true,
        empty: None,
    })
}
