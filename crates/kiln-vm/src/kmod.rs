//! Loading a kernel module in the guest (`finit_module(2)`), for the agent: one system call
//! per module instead of a busybox `insmod` process each, which under emulation costs a
//! good part of the boot. rustix does not wrap this call.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Load the module in `path` with `params` (`name=value ...`).
pub fn load_module(path: &Path, params: &str) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    let params = CString::new(params).map_err(std::io::Error::other)?;
    // SAFETY: finit_module reads the open fd and a NUL-terminated string that outlive the
    // call; flags 0. It changes no memory of this process.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params.as_ptr(),
            0 as libc::c_int,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    // Already in the kernel (built in, or loaded as a dependency's dependency).
    if e.raw_os_error() == Some(libc::EEXIST) {
        return Ok(());
    }
    Err(e)
}
