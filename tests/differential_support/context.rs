//! Build contexts: copied, set up with what git cannot hold, times fixed.

use super::*;

/// Copy the case directory (without its meta files) into `dest`, keeping modes.
pub(crate) fn copy_context(from: &Path, dest: &Path, top: bool) {
    std::fs::create_dir_all(dest).expect("mkdir context");
    for de in std::fs::read_dir(from).expect("read case directory") {
        let de = de.expect("entry");
        let name = de.file_name();
        if top && META.iter().any(|m| *m == name.to_string_lossy()) {
            continue;
        }
        let ft = de.file_type().expect("file type");
        let to = dest.join(&name);
        if ft.is_dir() {
            copy_context(&de.path(), &to, false);
        } else if ft.is_symlink() {
            let t = std::fs::read_link(de.path()).expect("readlink");
            std::os::unix::fs::symlink(t, &to).expect("symlink");
        } else {
            std::fs::copy(de.path(), &to).expect("copy a context file");
            // Modes as git keeps them, whatever the checkout's umask: 0644 or 0755.
            let exec = de.metadata().expect("stat").mode() & 0o111 != 0;
            set_mode(&to, if exec { 0o755 } else { 0o644 });
        }
    }
    set_mode(dest, 0o755);
}

pub(crate) fn set_mode(path: &Path, mode: u32) {
    rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(mode)).expect("chmod");
}

/// Carry out a case's `setup` file in its copied context `ctx`. One command a line:
///
/// ```text
/// symlink TARGET LINK          a symbolic link LINK -> TARGET
/// hardlink EXISTING NEW        a hard link
/// chmod OCTAL PATH             mode (setuid, setgid and sticky bits included)
/// chown UID:GID PATH           owner (no symlink following)
/// mkdir PATH                   an empty directory (git keeps none)
/// xattr PATH NAME VALUE        an extended attribute with a text value
/// xattr-hex PATH NAME HEX      an extended attribute with a binary value
/// tar ARCHIVE DIR [OPTION...]  GNU tar of DIR, compressed by ARCHIVE's extension
/// rm PATH                      remove a file or directory tree
/// mtime PATH SECONDS.NANOS     modification time, set after all others are made equal
/// ```
///
/// Returns the `mtime` settings, for after [`fix_times`].
pub(crate) fn setup(ctx: &Path, script: &str) -> Vec<(PathBuf, i64, i64)> {
    let mut times = Vec::new();
    for line in script.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let p = |i: usize| ctx.join(w[i]);
        match w[0] {
            "symlink" => std::os::unix::fs::symlink(w[1], p(2)).expect("setup symlink"),
            "hardlink" => std::fs::hard_link(p(1), p(2)).expect("setup hardlink"),
            "chmod" => set_mode(&p(2), u32::from_str_radix(w[1], 8).expect("octal mode")),
            "chown" => {
                let (u, g) = w[1].split_once(':').expect("UID:GID");
                std::os::unix::fs::lchown(
                    p(2),
                    Some(u.parse().expect("uid")),
                    Some(g.parse().expect("gid")),
                )
                .expect("setup chown");
            }
            "mkdir" => std::fs::create_dir_all(p(1)).expect("setup mkdir"),
            "xattr" | "xattr-hex" => {
                let value = if w[0] == "xattr" {
                    w[3].as_bytes().to_vec()
                } else {
                    hex::decode(w[3]).expect("hex value")
                };
                rustix::fs::lsetxattr(p(1), w[2], &value, rustix::fs::XattrFlags::empty())
                    .expect("setup xattr (does the filesystem of the temp dir support it?)");
            }
            "tar" => {
                let flag = if w[1].ends_with(".gz") {
                    "-czf"
                } else if w[1].ends_with(".xz") {
                    "-cJf"
                } else {
                    "-cf"
                };
                let st = Command::new("tar")
                    .current_dir(ctx)
                    .args(["--numeric-owner", "--sort=name", "--mtime=@1600000000"])
                    .args(&w[3..])
                    .args([flag, w[1], w[2]])
                    .status()
                    .expect("run tar");
                assert!(st.success(), "setup tar failed: {line}");
            }
            "rm" => {
                let path = p(1);
                if path.is_dir() {
                    std::fs::remove_dir_all(path).expect("setup rm");
                } else {
                    std::fs::remove_file(path).expect("setup rm");
                }
            }
            "mtime" => {
                let (sec, nsec) = w[2].split_once('.').unwrap_or((w[2], "0"));
                times.push((
                    p(1),
                    sec.parse().expect("seconds"),
                    nsec.parse().expect("nanoseconds"),
                ));
            }
            other => panic!("unknown setup command {other:?} in {line:?}"),
        }
    }
    times
}

/// Context files get their times from the checkout and the test run; give every entry the
/// same whole-second time so mtimes compare exactly (rounding is shown by one case's
/// `mtime` setting).
pub(crate) fn fix_times(dir: &Path) {
    set_time(dir, CONTEXT_MTIME, 0);
    for de in std::fs::read_dir(dir).expect("read the context") {
        let de = de.expect("entry");
        if de.file_type().expect("file type").is_dir() {
            fix_times(&de.path());
        } else {
            set_time(&de.path(), CONTEXT_MTIME, 0);
        }
    }
}

pub(crate) fn set_time(path: &Path, sec: i64, nsec: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .expect("set a context file's time");
}
