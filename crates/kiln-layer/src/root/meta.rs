//! What [`super::Root`] reports about a path: its kind and metadata.

use super::*;

/// The kind of a filesystem object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device.
    Char,
    /// Block device.
    Block,
    /// Named pipe.
    Fifo,
    /// Unix socket (also used for the impossible "unknown" `st_mode` type).
    Socket,
}

impl Kind {
    pub(super) fn from_file_type(ft: FileType) -> Kind {
        match ft {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::CharacterDevice => Kind::Char,
            FileType::BlockDevice => Kind::Block,
            FileType::Fifo => Kind::Fifo,
            _ => Kind::Socket,
        }
    }

    /// A short human name ("regular file", "directory", ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "regular file",
            Kind::Dir => "directory",
            Kind::Symlink => "symlink",
            Kind::Char => "character device",
            Kind::Block => "block device",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `lstat`/`stat` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Object type.
    pub kind: Kind,
    /// Permission bits plus setuid (0o4000), setgid (0o2000) and sticky (0o1000).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Size in bytes (for symlinks: length of the target).
    pub size: u64,
    /// Modification time: (seconds since the epoch, nanoseconds).
    pub mtime: (i64, u32),
    /// Status change time (seconds, nanoseconds): moves on every write, chmod, chown or
    /// rename, and cannot be set back by `touch` or tar.
    pub ctime: (i64, u32),
    /// Number of hard links.
    pub nlink: u64,
    /// Inode number.
    pub ino: u64,
    /// Device of the filesystem holding the object.
    pub dev: u64,
    /// Device number for character and block devices.
    pub rdev: u64,
}

impl Metadata {
    // `struct stat` field types differ between architectures.
    #[allow(clippy::useless_conversion)]
    pub(super) fn from_stat(st: &rfs::Stat) -> Metadata {
        let kind = Kind::from_file_type(FileType::from_raw_mode(st.st_mode));
        Metadata {
            kind,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: (
                i64::from(st.st_mtime),
                u32::try_from(st.st_mtime_nsec).unwrap_or(0),
            ),
            ctime: (
                i64::from(st.st_ctime),
                u32::try_from(st.st_ctime_nsec).unwrap_or(0),
            ),
            nlink: u64::from(st.st_nlink),
            ino: u64::from(st.st_ino),
            dev: u64::from(st.st_dev),
            rdev: u64::from(st.st_rdev),
        }
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    /// Major number of `rdev`.
    pub fn rdev_major(&self) -> u32 {
        major(self.rdev)
    }

    /// Minor number of `rdev`.
    pub fn rdev_minor(&self) -> u32 {
        minor(self.rdev)
    }
}

/// Build a device number from major and minor numbers.
pub fn makedev(major: u32, minor: u32) -> u64 {
    rfs::makedev(major, minor)
}

/// Major number of a device number.
pub fn major(dev: u64) -> u32 {
    rfs::major(dev)
}

/// Minor number of a device number.
pub fn minor(dev: u64) -> u32 {
    rfs::minor(dev)
}
