//! The sandbox's own `/dev` (a `nodev` tmpfs): the standard device nodes bound from the
//! host's `/dev`, the filesystems below it and its symlinks, as Docker sets them up; with
//! their names for error messages.

use std::ffi::CStr;

use rustix::mount::MountFlags;

/// nosuid, nodev, noexec.
const HARDENED: MountFlags = MountFlags::NOSUID
    .union(MountFlags::NODEV)
    .union(MountFlags::NOEXEC);

/// The standard nodes, bind-mounted from the host's `/dev`: path, major, minor.
pub(crate) const DEV_NODES: &[(&CStr, u32, u32); 6] = &crate::devices::STANDARD_NODES;

/// Filesystems under /dev: source, target, type, flags, data, dir mode.
pub(crate) type DevMount = (
    &'static CStr,
    &'static CStr,
    &'static CStr,
    MountFlags,
    Option<&'static CStr>,
    u32,
);

pub(crate) fn dev_mounts() -> [DevMount; 3] {
    [
        (
            c"devpts",
            c"/dev/pts",
            c"devpts",
            MountFlags::NOSUID.union(MountFlags::NOEXEC),
            Some(c"newinstance,ptmxmode=0666,mode=0620,gid=5"),
            0o755,
        ),
        (
            c"shm",
            c"/dev/shm",
            c"tmpfs",
            HARDENED,
            Some(c"mode=1777,size=65536k"),
            0o1777,
        ),
        (c"mqueue", c"/dev/mqueue", c"mqueue", HARDENED, None, 0o755),
    ]
}

pub(crate) const DEV_LINKS: &[(&CStr, &CStr)] = &[
    (c"/proc/self/fd", c"/dev/fd"),
    (c"/proc/self/fd/0", c"/dev/stdin"),
    (c"/proc/self/fd/1", c"/dev/stdout"),
    (c"/proc/self/fd/2", c"/dev/stderr"),
    (c"pts/ptmx", c"/dev/ptmx"),
    (c"/proc/kcore", c"/dev/core"),
];

/// Names for error messages (parent side), from the tables above.
pub(crate) fn dev_node_name(i: u32) -> &'static str {
    DEV_NODES
        .get(i as usize)
        .and_then(|(p, _, _)| p.to_str().ok())
        .unwrap_or("/dev node")
}

pub(crate) fn dev_mount_name(i: u32) -> &'static str {
    dev_mounts()
        .get(i as usize)
        .and_then(|m| m.1.to_str().ok())
        .unwrap_or("/dev mount")
}

pub(crate) fn dev_link_name(i: u32) -> &'static str {
    DEV_LINKS
        .get(i as usize)
        .and_then(|(_, l)| l.to_str().ok())
        .unwrap_or("/dev link")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_tables() {
        assert_eq!(dev_node_name(0), "/dev/null");
        assert_eq!(dev_node_name(5), "/dev/tty");
        assert_eq!(dev_mount_name(1), "/dev/shm");
        assert_eq!(dev_link_name(4), "/dev/ptmx");
        assert_eq!(dev_node_name(99), "/dev node");
    }
}
