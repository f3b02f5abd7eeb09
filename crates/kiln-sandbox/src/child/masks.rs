//! After `pivot_root`: /sys (read-only unless asked), the masked paths (an empty
//! read-only tmpfs or /dev/null over them) and the read-only paths.

use std::ffi::CStr;

use rustix::fs::{self, FileType, CWD};
use rustix::io::Errno;
use rustix::mount::{self, MountFlags};

use super::fail::{at, step, Step, R};
use super::Plan;

pub(super) fn mount_sys(p: &Plan) -> R {
    let sys_flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    let sys_flags = if p.writable_sysfs {
        sys_flags
    } else {
        sys_flags | MountFlags::RDONLY
    };
    mount::mount(c"sysfs", c"/sys", c"sysfs", sys_flags, None).map_err(step(Step::MountSys))
}

pub(super) fn mask_paths(p: &Plan) -> R {
    for (i, path) in p.masked.iter().enumerate() {
        let f = at(Step::Mask, i as u32);
        match is_dir(path).map_err(&f)? {
            None => {}
            Some(true) => mount::mount(
                c"tmpfs",
                path.as_c_str(),
                c"tmpfs",
                MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                Some(c"size=0"),
            )
            .map_err(&f)?,
            Some(false) => mount::mount_bind(c"/dev/null", path.as_c_str()).map_err(&f)?,
        }
    }
    Ok(())
}

pub(super) fn readonly_paths(p: &Plan) -> R {
    for (i, path) in p.readonly.iter().enumerate() {
        let f = at(Step::Readonly, i as u32);
        if is_dir(path).map_err(&f)?.is_none() {
            continue;
        }
        mount::mount_bind_recursive(path.as_c_str(), path.as_c_str()).map_err(&f)?;
        mount::mount_remount(
            path.as_c_str(),
            MountFlags::BIND
                | MountFlags::RDONLY
                | MountFlags::NOSUID
                | MountFlags::NODEV
                | MountFlags::NOEXEC,
            c"",
        )
        .map_err(&f)?;
    }
    Ok(())
}

fn is_dir(path: &CStr) -> Result<Option<bool>, Errno> {
    match fs::statat(CWD, path, fs::AtFlags::empty()) {
        Ok(st) => Ok(Some(
            FileType::from_raw_mode(st.st_mode) == FileType::Directory,
        )),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}
