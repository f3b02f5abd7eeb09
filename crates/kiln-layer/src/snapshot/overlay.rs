//! Kernel overlayfs mounts, unmounted on drop.
//!
//! **Deep stacks.** The classic `mount(2)` call passes all options in one
//! page (4096 bytes), so `lowerdir=/long/path/1:/long/path/2:...` runs out
//! after a few dozen layers. We use the new mount API instead
//! (`fsopen("overlay")`, then one `fsconfig(FSCONFIG_SET_STRING,
//! "lowerdir+", path)` call **per lower layer**, Linux 6.8+), which has no
//! total length limit: each path only has to fit `PATH_MAX`, and the stack
//! is bounded by overlayfs' own limit of [`MAX_LOWERS`] layers. No `chdir`,
//! no symlink farm. On older kernels (no `lowerdir+`) we fall back to a
//! single `lowerdir=` option (new API, else `mount(2)`), which works as long
//! as the option fits one page; past that the error says to upgrade.
//!
//! Options: `redirect_dir=off`, `metacopy=off`, `index=off` so that the
//! upper directory holds only plain copies, 0:0 character-device whiteouts
//! and `trusted.overlay.opaque` markers: what [`super::diff_overlay_upper`]
//! understands. Renaming a lower directory then fails with `EXDEV` and
//! tools fall back to copy and delete, as `mv` does. The mount source is
//! `kiln`, so `grep kiln /proc/mounts` lists leftovers.

use std::io;
use std::path::{Path, PathBuf};

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
        let r = unmount(&self.target, UnmountFlags::empty()).map_err(|e| Error::Unmount {
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
/// the others exist to test the fallbacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountApi {
    /// `lowerdir+` per layer, falling back as the kernel requires.
    #[default]
    Auto,
    /// New mount API with one `lowerdir=` string (kernels before 6.8).
    LowerdirString,
    /// `mount(2)` with all options in one page (no new mount API).
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
        MountApi::LowerdirString => match mount_new_api(&s, false) {
            Ok(m) => Ok(m),
            Err(NewApi::NoApi) => mount_legacy(&s),
            Err(NewApi::Failed(err)) => Err(err),
            Err(NewApi::Config(e)) => Err(mount_err(&s, "configure overlay", e, "")),
        },
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
    match mount_new_api(s, true) {
        Ok(m) => Ok(m),
        // No `lowerdir+` (Linux < 6.8): one `lowerdir=` string.
        Err(NewApi::Config(e)) if e == rustix::io::Errno::INVAL => match mount_new_api(s, false) {
            Ok(m) => Ok(m),
            Err(NewApi::NoApi) => mount_legacy(s),
            Err(NewApi::Failed(err)) => Err(err),
            Err(NewApi::Config(e)) => Err(mount_err(s, "configure overlay", e, "")),
        },
        Err(NewApi::NoApi) => mount_legacy(s),
        Err(NewApi::Failed(err)) => Err(err),
        Err(NewApi::Config(e)) => Err(mount_err(s, "configure overlay", e, "")),
    }
}

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
    /// fsconfig rejected a lower layer option.
    Config(rustix::io::Errno),
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

fn mount_new_api(s: &Spec<'_>, per_layer: bool) -> std::result::Result<OverlaySnapshot, NewApi> {
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
    if per_layer {
        for l in s.lowers.iter().rev() {
            if let Err(e) = fsconfig_set_string(&fs, "lowerdir+", l.as_path()) {
                if e == rustix::io::Errno::INVAL && kernel_log(&fs).contains("Unknown parameter") {
                    return Err(NewApi::Config(e));
                }
                return Err(fail(&format!("add lower layer {}", l.display()), e));
            }
        }
    } else {
        let joined = lowerdir_string(s.lowers);
        fsconfig_set_string(&fs, "lowerdir", joined.as_str())
            .map_err(|e| fail("set lowerdir", e))?;
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
    fsconfig_create(&fs).map_err(|e| fail("create overlay", e))?;
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

/// `lowerdir=` value: top-most first, `:` and `\` escaped.
fn lowerdir_string(lowers: &[PathBuf]) -> String {
    let mut out = String::new();
    for (i, l) in lowers.iter().rev().enumerate() {
        if i > 0 {
            out.push(':');
        }
        for c in l.to_string_lossy().chars() {
            if c == ':' || c == '\\' || c == ',' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

fn mount_legacy(s: &Spec<'_>) -> Result<OverlaySnapshot> {
    let mut data = format!("lowerdir={}", lowerdir_string(s.lowers));
    if let Some((upper, work)) = s.upper {
        data.push_str(&format!(
            ",upperdir={},workdir={}",
            upper.display(),
            work.display()
        ));
    }
    data.push_str(",redirect_dir=off,index=off,metacopy=off");
    if data.len() >= PAGE {
        return Err(Error::Mount {
            target: s.target.to_path_buf(),
            what: format!(
                "{} lower layers need {} bytes of mount options, more than one page; \
                 this kernel lacks `lowerdir+` (Linux 6.8+): upgrade the kernel or use the vfs snapshotter",
                s.lowers.len(),
                data.len()
            ),
            source: io::Error::from_raw_os_error(rustix::io::Errno::TOOBIG.raw_os_error()),
        });
    }
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
