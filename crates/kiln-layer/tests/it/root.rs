//! `Root`: every method, with symlink escapes, loops and the sentinel.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kiln_layer::{Kind, Root, RootError};

use crate::common::{is_root, skip_unless_root, Env};

/// A root with the classic escape symlinks planted:
/// * `esc`   -> `<outer>/outside` (absolute host path of the sentinel dir)
/// * `dots`  -> `../../../../../../../../outside`
/// * `hostetc` -> `/etc`
/// * `sent`  -> `<outer>/outside/sentinel`
fn planted() -> Env {
    let env = Env::new();
    let r = &env.root;
    r.symlink(&env.outside, "esc").expect("symlink esc");
    r.symlink("../../../../../../../../outside", "dots")
        .expect("symlink dots");
    r.symlink("/etc", "hostetc").expect("symlink hostetc");
    r.symlink(&env.sentinel, "sent").expect("symlink sent");
    env
}

fn errno(e: &RootError) -> Option<i32> {
    e.raw_os_error()
}

#[test]
fn open_rejects_missing_and_non_dirs() {
    let env = Env::new();
    let err = Root::open(&env.outer.join("nope")).expect_err("missing dir");
    assert!(err.to_string().contains("nope"), "{err}");
    let err = Root::open(&env.sentinel).expect_err("a file is not a root");
    assert!(err.to_string().contains("sentinel"), "{err}");
}

#[test]
fn create_and_lstat_exact_modes() {
    let env = Env::new();
    let r = &env.root;
    let mut f = r.create_file("/bin-x", 0o4755).expect("create");
    assert_eq!(
        r.lstat("/bin-x").expect("lstat").expect("exists").mode,
        0o4755,
        "setuid kept, umask not applied"
    );
    f.write_all(b"hi").expect("write");
    drop(f);
    // Writing as non-root makes the kernel clear setuid: chmod after content.
    r.chmod("/bin-x", 0o4755).expect("chmod");
    r.mkdir("/tmp", 0o1777).expect("mkdir tmp");
    r.mkdir("/sgid", 0o2750).expect("mkdir sgid");
    let m = r.lstat("/bin-x").expect("lstat").expect("exists");
    assert_eq!(m.kind, Kind::File);
    assert_eq!(m.mode, 0o4755, "setuid kept, umask not applied");
    assert_eq!(m.size, 2);
    assert_eq!(r.lstat("tmp").expect("lstat").expect("exists").mode, 0o1777);
    assert_eq!(
        r.lstat("sgid").expect("lstat").expect("exists").mode,
        0o2750
    );
    assert!(r.lstat("/missing").expect("lstat").is_none());
    assert!(r.lstat("/missing/deeper").expect("lstat").is_none());
    let rootm = r.lstat("/").expect("lstat root").expect("root exists");
    assert_eq!(rootm.kind, Kind::Dir);
    // `..` is clamped at the root.
    let m2 = r.lstat("../../../bin-x").expect("lstat").expect("clamped");
    assert_eq!(m2.ino, m.ino);
}

#[test]
fn absolute_symlink_resolves_inside_root() {
    let env = planted();
    let before = env.snapshot();
    let r = &env.root;
    // /etc in the root does not exist: nothing of the host's /etc is seen.
    assert!(r.stat_follow("hostetc/passwd").expect("stat").is_none());
    assert!(r.open_file("hostetc/passwd").is_err());
    assert!(r.lstat("hostetc/passwd").expect("lstat").is_none());
    assert!(r.read_dir("hostetc").is_err());
    // Writes never go through a link to the host's /etc, even in a broken
    // build: they use `esc`, an absolute link to the temp dir's `outside`.
    let created = r.mkdir_all("/esc", 0o755, None).expect("mkdir_all");
    let inner = env.outside.clone();
    assert_eq!(created.last(), Some(&inner), "created inside: {created:?}");
    let mut f = r.create_file("esc/sentinel", 0o644).expect("create");
    f.write_all(b"pwned?").expect("write");
    drop(f);
    assert_eq!(
        fs::read(env.host(&format!("{}/sentinel", inner.display()))).expect("read"),
        b"pwned?"
    );
    assert_eq!(
        r.resolve("hostetc/passwd").expect("resolve"),
        Path::new("/etc/passwd")
    );
    env.assert_outside_unchanged(&before);
}

#[test]
fn symlink_to_self_path_is_a_loop_error_not_a_hang() {
    let env = Env::new();
    let r = &env.root;
    r.symlink("/a", "a").expect("self loop");
    r.symlink("c", "b").expect("b->c");
    r.symlink("/b", "c").expect("c->/b");
    for p in ["a/x", "b/x"] {
        let e = r.lstat(p).expect_err("loop in parent");
        assert!(matches!(e, RootError::TooManySymlinks { .. }), "{p}: {e}");
        assert!(r.create_file(p, 0o644).is_err());
        assert!(r.mkdir_all(p, 0o755, None).is_err());
        assert!(r.resolve(p).is_err());
    }
    assert!(r.stat_follow("b").is_err());
    assert!(r.open_file("b").is_err());
    let e = r.mkdir_all("c/d", 0o755, None).expect_err("loop");
    assert!(matches!(e, RootError::TooManySymlinks { .. }), "{e}");
    // The loop symlinks themselves are fine to lstat and remove.
    assert_eq!(
        r.lstat("a").expect("lstat").expect("exists").kind,
        Kind::Symlink
    );
    r.remove_all("a").expect("remove loop link");
    assert!(r.lstat("a").expect("lstat").is_none());
}

#[test]
fn create_file_replaces_final_symlink() {
    let env = planted();
    let before = env.snapshot();
    let r = &env.root;
    fs::write(env.host("inner-target"), b"inner").expect("seed");
    r.symlink("/inner-target", "to-inner").expect("symlink");
    for p in ["sent", "to-inner"] {
        let mut f = r.create_file(p, 0o600).expect("create over symlink");
        f.write_all(b"replaced").expect("write");
        drop(f);
        let m = r.lstat(p).expect("lstat").expect("exists");
        assert_eq!(m.kind, Kind::File, "{p} must now be a regular file");
        assert_eq!(fs::read(env.host(p)).expect("read"), b"replaced");
    }
    assert_eq!(fs::read(env.host("inner-target")).expect("read"), b"inner");
    env.assert_outside_unchanged(&before);
}

#[test]
fn create_file_refuses_directory_and_replaces_fifo_without_opening() {
    let env = Env::new();
    let r = &env.root;
    r.mkdir("/d", 0o755).expect("mkdir");
    let e = r.create_file("/d", 0o644).expect_err("dir");
    assert!(
        matches!(
            e,
            RootError::WrongKind {
                kind: Kind::Dir,
                ..
            }
        ),
        "{e}"
    );
    // A fifo would block an open for writing: replacing must not open it.
    r.mknod("/p", Kind::Fifo, 0o644, 0).expect("mkfifo");
    let mut f = r.create_file("/p", 0o644).expect("replace fifo");
    f.write_all(b"x").expect("write");
    assert_eq!(
        r.lstat("/p").expect("lstat").expect("exists").kind,
        Kind::File
    );
}

#[test]
fn every_method_stays_inside_through_escaping_symlinks() {
    let env = planted();
    let before = env.snapshot();
    let r = &env.root;
    for base in ["esc", "dots"] {
        let target = format!("{base}/sentinel");
        let t = target.as_str();
        // Reads see nothing (the in-root target does not exist).
        assert!(r.lstat(t).expect("lstat").is_none(), "{t}");
        assert!(r.stat_follow(t).expect("stat").is_none(), "{t}");
        assert!(r.open_file(t).is_err(), "{t}");
        assert!(r.read_link(t).is_err(), "{t}");
        assert!(
            r.read_dir(base).is_err(),
            "{base}: must not list the host dir"
        );
        assert!(r.get_xattrs(t).is_err(), "{t}");
        // Writes fail (missing in-root parent) or land inside.
        assert!(r.chmod(t, 0o777).is_err(), "{t}");
        assert!(r.set_times(t, (5, 0)).is_err(), "{t}");
        assert!(r.lchown(t, 1, 1).is_err(), "{t}");
        assert!(r.set_xattr(t, "user.k", b"v").is_err(), "{t}");
        assert!(r.hardlink(t, "hl").is_err(), "{t}");
        assert!(r.mknod(t, Kind::Fifo, 0o644, 0).is_err(), "{t}");
        assert!(r.symlink("x", t).is_err(), "{t}");
        assert!(r.mkdir(t, 0o755).is_err(), "{t}");
        assert!(r.create_file(t, 0o644).is_err(), "{t}");
        r.remove_all(t).expect("missing is fine");
        r.remove_all(format!("{base}/"))
            .expect("removes the link only");
    }
    env.assert_outside_unchanged(&before);
    // A chmod/chown/xattr on the final symlink `sent` itself never reaches
    // its (host) target.
    let e = r.chmod("sent", 0o777).expect_err("chmod on symlink");
    assert!(
        matches!(
            e,
            RootError::WrongKind {
                kind: Kind::Symlink,
                ..
            }
        ),
        "{e}"
    );
    r.set_times("sent", (12345, 0))
        .expect("set_times on the link itself");
    assert_eq!(
        r.lstat("sent").expect("lstat").expect("exists").mtime.0,
        12345
    );
    if skip_unless_root("lchown/trusted xattr on a symlink") {
        r.lchown("sent", 4321, 4321).expect("lchown link");
        let m = r.lstat("sent").expect("lstat").expect("exists");
        assert_eq!((m.uid, m.gid), (4321, 4321));
        r.set_xattr("sent", "trusted.kiln", b"v")
            .expect("xattr on link");
        let x = r.get_xattrs("sent").expect("get");
        assert_eq!(x.get("trusted.kiln").map(Vec::as_slice), Some(&b"v"[..]));
    }
    assert!(r.open_file("sent").is_err(), "target missing inside root");
    env.assert_outside_unchanged(&before);
}

#[test]
fn dotdot_paths_are_clamped_at_root() {
    let env = Env::new();
    let before = env.snapshot();
    let r = &env.root;
    r.mkdir_all("../../outside", 0o755, None)
        .expect("mkdir_all");
    let mut f = r
        .create_file("../../outside/sentinel", 0o644)
        .expect("create");
    f.write_all(b"inside").expect("write");
    drop(f);
    assert_eq!(
        fs::read(env.host("outside/sentinel")).expect("read"),
        b"inside"
    );
    r.symlink("/", "../up").expect("symlink");
    assert_eq!(
        r.resolve("up/../../outside/sentinel").expect("resolve"),
        PathBuf::from("/outside/sentinel")
    );
    env.assert_outside_unchanged(&before);
}

#[test]
fn writes_through_relative_escape_symlink_land_inside() {
    let env = planted();
    let before = env.snapshot();
    let r = &env.root;
    // In-root target of `dots` is /outside.
    r.mkdir("/outside", 0o755).expect("mkdir");
    let mut f = r
        .create_file("dots/sentinel", 0o644)
        .expect("create through dots");
    f.write_all(b"pwned?").expect("write");
    drop(f);
    assert_eq!(
        fs::read(env.host("outside/sentinel")).expect("read"),
        b"pwned?"
    );
    // `esc` -> <outer>/outside resolves to <root><outer>/outside.
    let made = r
        .mkdir_all("esc/newdir", 0o700, None)
        .expect("mkdir_all through esc");
    let expect = env.outside.join("newdir");
    assert_eq!(made.last().map(PathBuf::as_path), Some(expect.as_path()));
    assert!(env.host(&expect.to_string_lossy()).is_dir());
    assert!(!env.outside.join("newdir").exists());
    env.assert_outside_unchanged(&before);
}

#[test]
fn mkdir_all_reports_created_follows_links_and_sets_owner() {
    let env = Env::new();
    let r = &env.root;
    let made = r.mkdir_all("/usr/lib", 0o750, None).expect("mkdir_all");
    assert_eq!(made, vec![PathBuf::from("/usr"), PathBuf::from("/usr/lib")]);
    assert_eq!(r.lstat("/usr").expect("lstat").expect("exists").mode, 0o750);
    // Existing symlink-to-dir component is followed inside the root.
    r.symlink("usr/lib", "/lib").expect("symlink");
    let made = r.mkdir_all("/lib/x/y", 0o755, None).expect("through link");
    assert_eq!(
        made,
        vec![PathBuf::from("/usr/lib/x"), PathBuf::from("/usr/lib/x/y")]
    );
    assert!(env.host("usr/lib/x/y").is_dir());
    assert!(r
        .mkdir_all("/lib/x/y", 0o755, None)
        .expect("again")
        .is_empty());
    // A dangling symlink is followed and its target created (docker).
    r.symlink("/made/by/link", "/dangling").expect("symlink");
    let made = r.mkdir_all("/dangling/z", 0o755, None).expect("dangling");
    assert_eq!(made.last(), Some(&PathBuf::from("/made/by/link/z")));
    // A file in the way is an error naming the component.
    fs::write(env.host("usr/file"), b"").expect("seed");
    let e = r.mkdir_all("/usr/file/x", 0o755, None).expect_err("file");
    assert!(matches!(e, RootError::NotADirectory { .. }), "{e}");
    assert!(e.to_string().contains("/usr/file"), "{e}");
    if skip_unless_root("mkdir_all owner") {
        let made = r
            .mkdir_all("/owned/a", 0o755, Some((1000, 2000)))
            .expect("owned");
        assert_eq!(made.len(), 2);
        for p in made {
            let m = r.lstat(&p).expect("lstat").expect("exists");
            assert_eq!((m.uid, m.gid), (1000, 2000), "{}", p.display());
        }
        // Existing dirs keep their owner.
        let m = r.lstat("/usr").expect("lstat").expect("exists");
        assert_eq!(m.uid, 0);
    }
}

#[test]
fn remove_all_never_follows_symlinks() {
    let env = planted();
    let before = env.snapshot();
    let r = &env.root;
    r.mkdir_all("/victim/sub", 0o755, None).expect("mkdir");
    fs::write(env.host("victim/sub/f"), b"keep").expect("seed");
    r.mkdir_all("/trash/sub", 0o755, None).expect("mkdir");
    r.symlink("/victim", "/trash/link-abs").expect("symlink");
    r.symlink("../victim", "/trash/sub/link-rel")
        .expect("symlink");
    r.symlink(&env.outside, "/trash/host").expect("symlink");
    r.hardlink("/victim/sub/f", "/trash/hard")
        .expect("hardlink");
    r.remove_all("/trash").expect("remove_all");
    assert!(r.lstat("/trash").expect("lstat").is_none());
    assert_eq!(fs::read(env.host("victim/sub/f")).expect("read"), b"keep");
    // Removing a symlink to a dir removes the link only.
    r.symlink("/victim", "/vlink").expect("symlink");
    r.remove_all("/vlink/").expect("remove link");
    assert!(r.lstat("/vlink").expect("lstat").is_none());
    assert!(env.host("victim/sub/f").exists());
    // The root itself: its contents go, the root stays.
    r.remove_all("/").expect("clear root");
    assert!(env.root_dir.is_dir());
    assert_eq!(fs::read_dir(&env.root_dir).expect("read_dir").count(), 0);
    env.assert_outside_unchanged(&before);
}

#[test]
fn chmod_times_and_fifo_not_opened() {
    let env = Env::new();
    let r = &env.root;
    r.mknod("/fifo", Kind::Fifo, 0o600, 0).expect("mkfifo");
    // Opening a fifo would block forever: these must not open it.
    r.chmod("/fifo", 0o4640).expect("chmod fifo");
    r.set_times("/fifo", (777, 5)).expect("times");
    let m = r.lstat("/fifo").expect("lstat").expect("exists");
    assert_eq!(m.kind, Kind::Fifo);
    assert_eq!(m.mode, 0o4640);
    assert_eq!(m.mtime, (777, 5));
    let e = r
        .open_file("/fifo")
        .expect_err("fifo is not a regular file");
    assert!(
        matches!(
            e,
            RootError::WrongKind {
                kind: Kind::Fifo,
                ..
            }
        ),
        "{e}"
    );
    r.mkdir("/d", 0o755).expect("mkdir");
    assert!(r.open_file("/d").is_err());
    r.chmod("/", 0o711).expect("chmod root");
    assert_eq!(
        fs::metadata(&env.root_dir)
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777,
        0o711
    );
    r.set_times("/", (99, 0)).expect("times root");
    assert_eq!(fs::metadata(&env.root_dir).expect("stat").mtime(), 99);
}

#[test]
fn set_times_does_not_follow() {
    let env = Env::new();
    let r = &env.root;
    drop(r.create_file("/t", 0o644).expect("create"));
    r.set_times("/t", (1000, 0)).expect("times");
    r.symlink("/t", "/l").expect("symlink");
    r.set_times("/l", (2000, 0)).expect("times on link");
    assert_eq!(r.lstat("/t").expect("lstat").expect("exists").mtime.0, 1000);
    assert_eq!(r.lstat("/l").expect("lstat").expect("exists").mtime.0, 2000);
    assert_eq!(
        r.stat_follow("/l").expect("stat").expect("exists").mtime.0,
        1000
    );
}

#[test]
fn xattrs_roundtrip_including_capability() {
    let env = Env::new();
    let r = &env.root;
    drop(r.create_file("/bin", 0o755).expect("create"));
    r.set_xattr("/bin", "user.kiln", b"\x00bin\xff")
        .expect("user xattr");
    r.mkdir("/d", 0o755).expect("mkdir");
    r.set_xattr("/d", "user.dir", b"1").expect("dir xattr");
    r.set_xattr("/", "user.root", b"r").expect("root xattr");
    let x = r.get_xattrs("/bin").expect("get");
    assert_eq!(
        x.get("user.kiln").map(Vec::as_slice),
        Some(&b"\x00bin\xff"[..])
    );
    assert_eq!(r.get_xattrs("/d").expect("get").len(), 1);
    assert_eq!(
        r.get_xattrs("/")
            .expect("get")
            .get("user.root")
            .map(Vec::as_slice),
        Some(&b"r"[..])
    );
    assert!(r.set_xattr("/bin", "", b"").is_err());
    if skip_unless_root("security.capability xattr") {
        let cap = crate::common::NET_RAW_EP;
        r.set_xattr("/bin", "security.capability", &cap)
            .expect("cap");
        let x = r.get_xattrs("/bin").expect("get");
        assert_eq!(
            x.get("security.capability").map(Vec::as_slice),
            Some(&cap[..])
        );
    }
}

#[test]
fn hardlink_inside_root_links_symlink_itself() {
    let env = planted();
    let before = env.snapshot();
    let r = &env.root;
    fs::write(env.host("f"), b"data").expect("seed");
    r.hardlink("/f", "/g").expect("hardlink");
    let (f, g) = (
        r.lstat("/f").expect("lstat").expect("f"),
        r.lstat("/g").expect("lstat").expect("g"),
    );
    assert_eq!(f.ino, g.ino);
    assert_eq!(f.nlink, 2);
    // Linking the escape symlink gives another symlink, not the sentinel.
    r.hardlink("/sent", "/sent2").expect("hardlink symlink");
    assert_eq!(
        r.lstat("/sent2").expect("lstat").expect("x").kind,
        Kind::Symlink
    );
    // Same inode again is a no-op, not a self-destruction.
    r.hardlink("/f", "/g").expect("again");
    assert_eq!(fs::read(env.host("g")).expect("read"), b"data");
    r.mkdir("/dir", 0o755).expect("mkdir");
    assert!(r.hardlink("/dir", "/dir2").is_err());
    assert!(r.hardlink("/nope", "/x").is_err());
    env.assert_outside_unchanged(&before);
}

#[test]
fn mknod_devices_as_root() {
    let env = Env::new();
    let r = &env.root;
    let e = r
        .mknod("/x", Kind::File, 0o644, 0)
        .expect_err("not a node kind");
    assert!(matches!(e, RootError::Invalid { .. }), "{e}");
    if !skip_unless_root("mknod character/block devices") {
        let e = r
            .mknod("/null", Kind::Char, 0o666, kiln_layer::makedev(1, 3))
            .expect_err("needs CAP_MKNOD");
        assert_eq!(errno(&e), Some(1), "{e}");
        return;
    }
    r.mknod("/null", Kind::Char, 0o666, kiln_layer::makedev(1, 3))
        .expect("mknod c");
    r.mknod("/blk", Kind::Block, 0o600, kiln_layer::makedev(7, 0))
        .expect("mknod b");
    let m = r.lstat("/null").expect("lstat").expect("exists");
    assert_eq!(
        (m.kind, m.mode, m.rdev_major(), m.rdev_minor()),
        (Kind::Char, 0o666, 1, 3)
    );
    let m = r.lstat("/blk").expect("lstat").expect("exists");
    assert_eq!(
        (m.kind, m.rdev_major(), m.rdev_minor()),
        (Kind::Block, 7, 0)
    );
    let e = r.open_file("/null").expect_err("devices are never opened");
    assert!(
        matches!(
            e,
            RootError::WrongKind {
                kind: Kind::Char,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn lchown_as_root() {
    let env = Env::new();
    let r = &env.root;
    drop(r.create_file("/f", 0o4755).expect("create"));
    if !skip_unless_root("lchown to other owners") {
        return;
    }
    r.symlink("/f", "/l").expect("symlink");
    r.lchown("/l", 7, 8).expect("lchown link");
    let f = r.lstat("/f").expect("lstat").expect("f");
    assert_eq!((f.uid, f.gid), (0, 0), "target untouched");
    r.lchown("/f", 1000, 1000).expect("lchown file");
    let f = r.lstat("/f").expect("lstat").expect("f");
    assert_eq!((f.uid, f.gid), (1000, 1000));
    r.lchown("/", 5, 5).expect("chown root");
    assert_eq!(fs::metadata(&env.root_dir).expect("stat").uid(), 5);
}

#[test]
fn read_dir_and_walk_sorted_without_following() {
    let env = planted();
    let r = &env.root;
    r.mkdir_all("/a/sub", 0o755, None).expect("mkdir");
    drop(r.create_file("/a-b", 0o644).expect("create"));
    drop(r.create_file("/a/z", 0o644).expect("create"));
    drop(r.create_file("/a/sub/f", 0o644).expect("create"));
    r.symlink("/a", "/link-to-a").expect("symlink");
    let names: Vec<String> = r
        .read_dir("/")
        .expect("read_dir")
        .into_iter()
        .map(|(n, _)| n.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["a", "a-b", "dots", "esc", "hostetc", "link-to-a", "sent"]
    );
    // read_dir of a symlink to a dir follows it inside the root.
    let via: Vec<String> = r
        .read_dir("/link-to-a")
        .expect("read_dir")
        .into_iter()
        .map(|(n, _)| n.to_string_lossy().into_owned())
        .collect();
    assert_eq!(via, ["sub", "z"]);
    let walked: Vec<String> = r
        .walk("/")
        .expect("walk")
        .into_iter()
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        walked,
        [
            "/",
            "/a",
            "/a/sub",
            "/a/sub/f",
            "/a/z",
            "/a-b",
            "/dots",
            "/esc",
            "/hostetc",
            "/link-to-a",
            "/sent"
        ]
    );
    let sub = r.walk("/a/sub").expect("walk sub");
    assert_eq!(sub.len(), 2);
    assert_eq!(sub[1].0, Path::new("/a/sub/f"));
    // Walking a symlink lists it, does not enter it.
    assert_eq!(r.walk("/esc").expect("walk link").len(), 1);
    assert!(r.walk("/nope").is_err());
}

#[test]
fn resolve_gives_in_root_canonical_paths() {
    let env = planted();
    let r = &env.root;
    r.mkdir_all("/usr/lib", 0o755, None).expect("mkdir");
    r.symlink("usr/lib", "/lib").expect("symlink");
    r.symlink("../../..", "/usr/lib/up").expect("symlink");
    assert_eq!(
        r.resolve("/lib/x").expect("resolve"),
        Path::new("/usr/lib/x")
    );
    assert_eq!(
        r.resolve("/lib/up/etc").expect("resolve"),
        Path::new("/etc")
    );
    assert_eq!(
        r.resolve("/esc/sentinel").expect("resolve"),
        env.outside.join("sentinel")
    );
    assert_eq!(r.resolve("/").expect("resolve"), Path::new("/"));
    assert_eq!(r.resolve("/a/../b").expect("resolve"), Path::new("/b"));
}

#[test]
fn open_file_reads_through_in_root_links() {
    let env = Env::new();
    let r = &env.root;
    r.mkdir_all("/etc", 0o755, None).expect("mkdir");
    fs::write(env.host("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").expect("seed");
    r.symlink("/etc", "/link").expect("symlink");
    let mut s = String::new();
    r.open_file("/link/passwd")
        .expect("open")
        .read_to_string(&mut s)
        .expect("read");
    assert!(s.starts_with("root:x"));
    assert!(!is_root() || fs::read("/etc/passwd").is_ok());
}

#[test]
fn errors_name_the_path_and_root() {
    let env = Env::new();
    let e = env.root.open_file("/no/such/file").expect_err("missing");
    let s = e.to_string();
    assert!(s.contains("/no/such/file"), "{s}");
    assert!(s.contains(&env.root_dir.display().to_string()), "{s}");
    assert!(s.contains("does not exist"), "{s}");
}
