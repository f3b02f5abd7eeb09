//! The store where sandboxed CI pods put it: on tmpfs (a memory-backed emptyDir) and
//! on an ext4 file system in a loop-mounted image file (a disk image on a volume).
//! A build with RUN (overlay driver) and COPY works on each, and the result is right.

mod store_common;
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use store_common::{assert_intact, context_with_data, exported, kiln_at, ok_at, text};
use support::{busybox_tarball, run_ok, show};

/// A mount the test made; unmounted (lazily if busy) on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Builds with RUN and COPY in a store at `store`, checks the image and the store.
fn build_in(store: &Path, work: &Path) {
    let tar = busybox_tarball();
    ok_at(store, &["import", tar.to_str().expect("utf-8"), "bb"]);
    let ctx = work.join("ctx");
    context_with_data(
        &ctx,
        "FROM bb\nRUN echo ran > /ran && mkdir -p /var/x && rm /bin/true\nCOPY data /data\nRUN cat /ran /data/f00002 > /out && ls /bin/true || echo gone >> /out\n",
        50,
        3000,
        "placement",
    );
    let out = kiln_at(store)
        .args(["build", "--storage-driver", "overlay", "-q", "-t", "app"])
        .arg(&ctx)
        .output()
        .expect("run kiln build");
    assert!(out.status.success(), "build failed\n{}", show(&out));
    let rootfs = exported(store, "app", &work.join("rootfs"));
    let expected = format!("ran\n{}gone\n", text(&ctx.join("data/f00002")));
    assert_eq!(text(&rootfs.join("out")), expected);
    assert!(rootfs.join("var/x").is_dir());
    assert!(
        !rootfs.join("bin/true").exists(),
        "the RUN's deletion (a whiteout) was lost"
    );
    assert!(
        fs::read_dir(store.join("layers/sha256"))
            .expect("layers")
            .count()
            > 0,
        "RUN did not unpack its layers into the store"
    );
    assert_intact(store);
    ok_at(store, &["prune"]);
    assert_intact(store);
}

/// Checks that `mnt` has file system `fstype`, then builds in a store on it.
fn build_on(mnt: &Path, fstype: &str, work: &Path) {
    let found = run_ok(
        Command::new("findmnt")
            .args(["-n", "-o", "FSTYPE"])
            .arg(mnt),
    );
    assert_eq!(found.trim(), fstype);
    build_in(&mnt.join("store"), work);
}

#[test]
fn store_on_tmpfs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mnt = dir.path().join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    run_ok(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1g,mode=0700", "kiln-test"])
            .arg(&mnt),
    );
    let _mounted = Mounted(mnt.clone());
    build_on(&mnt, "tmpfs", dir.path());
}

#[test]
fn store_on_loop_mounted_ext4() {
    let dir = tempfile::tempdir().expect("temp dir");
    let image = dir.path().join("disk.img");
    let mnt = dir.path().join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    run_ok(Command::new("truncate").args(["-s", "1G"]).arg(&image));
    run_ok(
        Command::new(support::tool("mkfs.ext4", "e2fsprogs"))
            .args(["-q", "-F"])
            .arg(&image),
    );
    let mount = Command::new("mount")
        .args(["-o", "loop"])
        .arg(&image)
        .arg(&mnt)
        .output()
        .expect("run mount");
    if !mount.status.success() {
        let err = String::from_utf8_lossy(&mount.stderr);
        let no_loop = !Path::new("/dev/loop-control").exists() || err.contains("loop");
        assert!(
            no_loop,
            "mount -o loop failed for a reason other than loop devices\n{}",
            show(&mount)
        );
        eprintln!(
            "SKIPPED store_on_loop_mounted_ext4: loop devices are unavailable here: {}",
            err.trim()
        );
        return;
    }
    let _mounted = Mounted(mnt.clone());
    build_on(&mnt, "ext4", dir.path());
}

/// A store root other users can write (a Kubernetes emptyDir starts 0777) is made private
/// before kiln uses it; one that another user owns is refused, so nobody else can plant a
/// symlink where a build's cache mount or layer will be.
#[test]
fn store_root_is_private_and_must_be_kiln_users_own() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().expect("temp dir");
    let open = dir.path().join("open");
    fs::create_dir(&open).expect("mkdir");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).expect("chmod");
    ok_at(&open, &["images"]);
    let mode = fs::metadata(&open).expect("stat").mode() & 0o7777;
    assert_eq!(mode, 0o700, "the store root was left {mode:o}");
    let foreign = dir.path().join("foreign");
    fs::create_dir(&foreign).expect("mkdir");
    rustix::fs::chown(
        &foreign,
        Some(rustix::fs::Uid::from_raw(65534)),
        Some(rustix::fs::Gid::from_raw(65534)),
    )
    .expect("chown");
    let out = kiln_at(&foreign).arg("images").output().expect("run kiln");
    support::assert_fails(&out, 3, &["belongs to uid 65534", "--root"]);
    assert_eq!(
        fs::read_dir(&foreign).expect("list").count(),
        0,
        "nothing written"
    );
}
