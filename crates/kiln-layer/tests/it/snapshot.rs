//! Snapshots: overlay-form extraction, overlay mounts (deep stacks), and
//! the equivalence of the overlay and vfs diffs. Needs root and overlayfs;
//! prints SKIPPED otherwise. Every mount lives under a temp dir and is
//! unmounted by `OverlaySnapshot`'s Drop (also when an assertion panics).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_layer::snapshot::{diff_overlay_upper, overlay_supported, OverlaySnapshot, VfsSnapshot};
use kiln_layer::{
    extract, EntryKind, EntryMeta, ExtractOptions, Kind, LayerWriter, Root, TarOptions,
    WhiteoutMode,
};

use crate::common::{sha, skip_unless_root};

pub(crate) fn overlay_ok(tmp: &Path) -> bool {
    if !skip_unless_root("overlay snapshots") {
        return false;
    }
    let probe = tmp.join("probe");
    fs::create_dir(&probe).unwrap();
    if !overlay_supported(&probe) {
        eprintln!("SKIPPED (overlayfs not available)");
        return false;
    }
    true
}

pub(crate) fn meta(mode: u32, mtime: i64) -> EntryMeta {
    EntryMeta {
        mode,
        uid: 0,
        gid: 0,
        mtime,
        xattrs: BTreeMap::new(),
    }
}

/// A small layer builder on top of LayerWriter.
pub(crate) struct L(pub(crate) LayerWriter<Vec<u8>>);

impl L {
    pub(crate) fn new() -> L {
        L(LayerWriter::new(Vec::new(), TarOptions::default()))
    }
    pub(crate) fn dir(&mut self, p: &str) -> &mut Self {
        self.0
            .add_entry(p, &meta(0o755, 1_000_000), EntryKind::Dir, None)
            .unwrap();
        self
    }
    pub(crate) fn file(&mut self, p: &str, content: &str) -> &mut Self {
        self.file_m(p, content, meta(0o644, 1_000_000))
    }
    pub(crate) fn file_m(&mut self, p: &str, content: &str, m: EntryMeta) -> &mut Self {
        let mut r = content.as_bytes();
        self.0
            .add_entry(
                p,
                &m,
                EntryKind::File {
                    size: content.len() as u64,
                },
                Some(&mut r),
            )
            .unwrap();
        self
    }
    pub(crate) fn kind(&mut self, p: &str, k: EntryKind) -> &mut Self {
        self.0
            .add_entry(p, &meta(0o644, 1_000_000), k, None)
            .unwrap();
        self
    }
    pub(crate) fn done(self) -> Vec<u8> {
        self.0.finish().unwrap()
    }
}

pub(crate) fn unpack(tar: &[u8], dir: &Path, mode: WhiteoutMode) {
    fs::create_dir_all(dir).unwrap();
    let root = Root::open(dir).unwrap();
    let opts = ExtractOptions {
        whiteouts: mode,
        ..ExtractOptions::default()
    };
    extract(tar, &root, &opts).unwrap();
}

#[test]
fn extract_overlay_whiteouts() {
    if !skip_unless_root("overlay-form extraction") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut l = L::new();
    l.dir("d")
        .kind("d", EntryKind::Opaque)
        .file("d/keep", "k")
        .kind("gone", EntryKind::Whiteout)
        .kind("sub/x", EntryKind::Whiteout);
    let mut xm = meta(0o644, 1);
    xm.xattrs
        .insert("trusted.overlay.redirect".into(), b"/etc".to_vec());
    xm.xattrs.insert("user.ok".into(), b"1".to_vec());
    l.file_m("evil", "e", xm);
    let dir = tmp.path().join("l");
    unpack(&l.done(), &dir, WhiteoutMode::Overlay);
    let r = Root::open(&dir).unwrap();
    let g = r.lstat("gone").unwrap().unwrap();
    assert_eq!((g.kind, g.rdev), (Kind::Char, 0));
    let x = r.lstat("sub/x").unwrap().unwrap();
    assert_eq!((x.kind, x.rdev), (Kind::Char, 0));
    assert_eq!(
        r.get_xattrs("d").unwrap().get("trusted.overlay.opaque"),
        Some(&b"y".to_vec())
    );
    assert!(r.lstat("d/keep").unwrap().is_some());
    assert!(r.lstat(".wh.gone").unwrap().is_none());
    let ex = r.get_xattrs("evil").unwrap();
    assert!(!ex.contains_key("trusted.overlay.redirect"), "{ex:?}");
    assert_eq!(ex.get("user.ok"), Some(&b"1".to_vec()));
}

#[test]
fn overlay_deep_stack_of_120_long_paths() {
    let tmp = tempfile::tempdir().unwrap();
    if !overlay_ok(tmp.path()) {
        return;
    }
    let n = 120;
    let mut lowers = Vec::new();
    for i in 0..n {
        // ~70 bytes per path: 120 of them are far past one 4096-byte page.
        let d = tmp.path().join(format!(
            "layer-with-a-rather-long-directory-name-number-{i:04}"
        ));
        fs::create_dir(&d).unwrap();
        fs::write(d.join(format!("f{i}")), format!("{i}")).unwrap();
        fs::write(d.join("common"), format!("{i}")).unwrap();
        lowers.push(d);
    }
    let total: usize = lowers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(total > 4096, "{total}");
    let (upper, work, merged) = (
        tmp.path().join("upper"),
        tmp.path().join("work"),
        tmp.path().join("merged"),
    );
    for d in [&upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let m = OverlaySnapshot::mount(&lowers, &upper, &work, &merged).unwrap();
    assert_eq!(fs::read_to_string(merged.join("f0")).unwrap(), "0");
    assert_eq!(fs::read_to_string(merged.join("f119")).unwrap(), "119");
    // Top-most (last) lower wins.
    assert_eq!(fs::read_to_string(merged.join("common")).unwrap(), "119");
    fs::write(merged.join("common"), "new").unwrap();
    fs::remove_file(merged.join("f5")).unwrap();
    assert_eq!(fs::read_to_string(upper.join("common")).unwrap(), "new");
    assert!(fs::read_to_string("/proc/mounts")
        .unwrap()
        .contains(merged.to_str().unwrap()));
    m.unmount().unwrap();
    assert!(!fs::read_to_string("/proc/mounts")
        .unwrap()
        .contains(merged.to_str().unwrap()));
    // f5 from a lower is now a 0:0 whiteout in the upper dir.
    let r = Root::open(&upper).unwrap();
    let w = r.lstat("f5").unwrap().unwrap();
    assert_eq!((w.kind, w.rdev), (Kind::Char, 0));
}

#[test]
fn overlay_unmounts_on_drop_during_panic() {
    let tmp = tempfile::tempdir().unwrap();
    if !overlay_ok(tmp.path()) {
        return;
    }
    let (a, b, t) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("t"),
    );
    for d in [&a, &b, &t] {
        fs::create_dir(d).unwrap();
    }
    let t2 = t.clone();
    let r = std::panic::catch_unwind(move || {
        let _m = OverlaySnapshot::mount_readonly(&[a, b], &t2).unwrap();
        panic!("test failure while mounted");
    });
    assert!(r.is_err());
    assert!(!fs::read_to_string("/proc/mounts")
        .unwrap()
        .contains(t.to_str().unwrap()));
}

/// Base layer 1.
pub(crate) fn layer1() -> Vec<u8> {
    let mut l = L::new();
    l.dir("bin")
        .file("bin/su", "su")
        .file("bin/tool", "tool")
        .file("bin/tool2", "tool2")
        .dir("etc")
        .file("etc/a", "renamed")
        .file("etc/conf", "conf v1")
        .file("etc/gone", "removed by layer 2")
        .file("etc/old", "old");
    let mut x = meta(0o644, 1_000_000);
    x.xattrs.insert("user.orig".into(), b"1".to_vec());
    l.file_m("etc/conf2", "conf2", x)
        .dir("home")
        .dir("home/user")
        .file("home/user/a", "a")
        .file("home/user/b", "b")
        .dir("lib")
        .file("lib/libx", "libx")
        .file("lib/pair1", "pair")
        .kind(
            "lib/pair2",
            EntryKind::Hardlink {
                target: "lib/pair1".into(),
            },
        )
        .kind(
            "lnk",
            EntryKind::Symlink {
                target: "etc/conf".into(),
            },
        )
        .dir("opt")
        .dir("opt/dir1")
        .file("opt/dir1/c1", "c1")
        .dir("opt/dir1/sub")
        .file("opt/dir1/sub/c2", "c2")
        .dir("opt/opq")
        .file("opt/opq/old1", "hidden by layer 2")
        .dir("srv")
        .file("srv/f", "f")
        .dir("usr")
        .dir("usr/local")
        .dir("usr/local/d2")
        .file("usr/local/d2/p", "p")
        .file("usr/local/d2/q", "q")
        .dir("usr/share")
        .dir("usr/share/doc")
        .file("usr/share/doc/x", "x")
        .file("usr/share/doc/y", "y")
        .dir("var")
        .dir("var/cache")
        .dir("var/cache/x")
        .file("var/cache/x/1", "1");
    l.done()
}

/// Base layer 2: a whiteout, an opaque dir, a new file.
pub(crate) fn layer2() -> Vec<u8> {
    let mut l = L::new();
    l.dir("etc")
        .kind("etc/gone", EntryKind::Whiteout)
        .file("etc/l2file", "from layer 2")
        .dir("opt")
        .dir("opt/opq")
        .kind("opt/opq", EntryKind::Opaque)
        .file("opt/opq/new1", "new1");
    l.done()
}

pub(crate) const T: (i64, u32) = (1_700_000_000, 123_456_789);

/// The step: the same changes, through `r` (a merged overlay or a vfs
/// working copy). Explicit mtimes everywhere so both sides agree.
pub(crate) fn apply(r: &Root, host: &Path) {
    let wf = |p: &str, c: &str| {
        let mut f = r.create_file(p, 0o644).unwrap();
        f.write_all(c.as_bytes()).unwrap();
        drop(f);
        r.set_times(p, T).unwrap();
    };
    wf("new.txt", "new file");
    wf("etc/conf", "conf v2, longer");
    r.remove_all("etc/old").unwrap();
    r.remove_all("etc/l2file").unwrap();
    fs::rename(host.join("etc/a"), host.join("etc/b")).unwrap();
    // Dir replaced by a file, file replaced by a dir.
    r.remove_all("opt/dir1").unwrap();
    wf("opt/dir1", "now a file");
    r.remove_all("srv/f").unwrap();
    r.mkdir("srv/f", 0o750).unwrap();
    wf("srv/f/inside", "inside");
    // A whole lower dir deleted.
    r.remove_all("var/cache").unwrap();
    // chmod, chown, setuid.
    r.chmod("bin/tool", 0o700).unwrap();
    r.lchown("bin/tool2", 1000, 1000).unwrap();
    r.chmod("bin/su", 0o4755).unwrap();
    // xattrs.
    r.set_xattr("etc/conf2", "user.foo", b"bar").unwrap();
    r.set_xattr("etc/conf2", "trusted.kiln.test", b"t").unwrap();
    // Hard links: new pair, and a new link to a lower file.
    r.mkdir("data", 0o755).unwrap();
    wf("data/h1", "linked");
    r.hardlink("data/h1", "data/h2").unwrap();
    r.hardlink("lib/libx", "lib/liby").unwrap();
    // Symlinks: new, and retargeted.
    r.symlink("../etc/conf", "data/link").unwrap();
    r.set_times("data/link", T).unwrap();
    r.remove_all("lnk").unwrap();
    r.symlink("etc/conf2", "lnk").unwrap();
    r.set_times("lnk", T).unwrap();
    // Recreated dir keeping one old name: whiteout for the other.
    r.remove_all("home/user").unwrap();
    r.mkdir("home/user", 0o700).unwrap();
    wf("home/user/a", "a again");
    // Recreated dir without old names: opaque.
    r.remove_all("usr/share/doc").unwrap();
    r.mkdir("usr/share/doc", 0o755).unwrap();
    wf("usr/share/doc/new", "n");
    // Emptied child by child (overlay: whiteouts, not opaque) + new child.
    r.remove_all("usr/local/d2/p").unwrap();
    r.remove_all("usr/local/d2/q").unwrap();
    wf("usr/local/d2/r", "r");
    // In a dir that a lower layer made opaque.
    wf("opt/opq/added", "added");
    // Fifo and device.
    r.mkdir("dev", 0o755).unwrap();
    r.mknod("dev/fifo", Kind::Fifo, 0o600, 0).unwrap();
    r.mknod("dev/null", Kind::Char, 0o666, kiln_layer::makedev(1, 3))
        .unwrap();
    r.set_times("dev/fifo", T).unwrap();
    r.set_times("dev/null", T).unwrap();
    // Long (PAX) and non-ASCII names.
    let long = format!("data/{}", "n".repeat(150));
    wf(&long, "long name");
    wf("data/grüße \u{2603}.txt", "unicode");
    // Directory mtimes after all child changes.
    for d in [
        "etc",
        "srv",
        "srv/f",
        "opt",
        "var",
        "data",
        "lib",
        "home",
        "home/user",
        "usr/share",
        "usr/share/doc",
        "usr/local/d2",
        "opt/opq",
        "dev",
    ] {
        r.set_times(d, T).unwrap();
    }
}

/// Comparable snapshot of a tree: kind, mode, owner, mtime seconds, size,
/// rdev, link target, content hash, xattrs (minus overlay/selinux), and
/// hard link groups.
pub(crate) fn signature(r: &Root) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    for (p, m) in r.walk("/").unwrap().into_iter().skip(1) {
        let ps = p.to_string_lossy().into_owned();
        let mut x = r.get_xattrs(&p).unwrap();
        x.retain(|k, _| !k.starts_with("trusted.overlay.") && k != "security.selinux");
        let extra = match m.kind {
            Kind::File => sha(&fs::read(r.path().join(ps.trim_start_matches('/'))).unwrap()),
            Kind::Symlink => r.read_link(&p).unwrap().to_string_lossy().into_owned(),
            Kind::Char | Kind::Block => format!("{}:{}", m.rdev_major(), m.rdev_minor()),
            _ => String::new(),
        };
        let link = if m.kind != Kind::Dir && m.nlink > 1 {
            inodes.entry(m.ino).or_insert_with(|| ps.clone()).clone()
        } else {
            String::new()
        };
        out.insert(
            ps,
            format!(
                "{} {:o} {}:{} t={} {extra} x={x:?} link={link}",
                m.kind, m.mode, m.uid, m.gid, m.mtime.0
            ),
        );
    }
    out
}

pub(crate) fn mkdirs(base: &Path, names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| {
            let p = base.join(n);
            fs::create_dir_all(&p).unwrap();
            p
        })
        .collect()
}

pub(crate) fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            e.path().unwrap().to_string_lossy().into_owned()
        })
        .collect()
}

#[test]
fn overlay_and_vfs_diffs_are_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    if !overlay_ok(tmp.path()) {
        return;
    }
    let t = tmp.path();
    let (l1, l2) = (layer1(), layer2());
    let lowers = vec![t.join("l1"), t.join("l2")];
    unpack(&l1, &lowers[0], WhiteoutMode::Overlay);
    unpack(&l2, &lowers[1], WhiteoutMode::Overlay);

    // Overlay side.
    let d = mkdirs(t, &["upper", "work", "merged", "before"]);
    let before_view = OverlaySnapshot::mount_readonly(&lowers, &d[3]).unwrap();
    let ov = OverlaySnapshot::mount(&lowers, &d[0], &d[1], &d[2]).unwrap();
    apply(&Root::open(&d[2]).unwrap(), &d[2]);
    let overlay_after = signature(&Root::open(&d[2]).unwrap());
    ov.unmount().unwrap();
    // The upper dir holds both overlay forms the canonical diff unifies.
    let up = Root::open(&d[0]).unwrap();
    for opq in ["usr/share/doc", "home/user"] {
        assert_eq!(
            up.get_xattrs(opq).unwrap().get("trusted.overlay.opaque"),
            Some(&b"y".to_vec()),
            "{opq}"
        );
    }
    let wh = up.lstat("usr/local/d2/p").unwrap().unwrap();
    assert_eq!((wh.kind, wh.rdev), (Kind::Char, 0));
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    diff_overlay_upper(
        &Root::open(&d[0]).unwrap(),
        &Root::open(&d[3]).unwrap(),
        &mut w,
    )
    .unwrap();
    let overlay_tar = w.finish().unwrap();
    let overlay_before = signature(&Root::open(&d[3]).unwrap());
    before_view.unmount().unwrap();

    // vfs side.
    let vdir = t.join("vfs");
    fs::create_dir(&vdir).unwrap();
    let vfs = VfsSnapshot::prepare(&lowers, &vdir).unwrap();
    assert_eq!(
        signature(vfs.before()),
        overlay_before,
        "merged lowers differ"
    );
    apply(vfs.rootfs(), vfs.rootfs().path());
    let vfs_after = signature(vfs.rootfs());
    // Hard links of the lower layers: overlayfs shows them linked until one name is
    // changed (copy-up then breaks the link); the vfs working copy has each name on its
    // own from the start. What the layer holds is the same (checked below).
    let unlinked = |sig: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        sig.iter()
            .map(|(k, v)| (k.clone(), v.split(" link=").next().unwrap_or(v).to_string()))
            .collect()
    };
    assert_eq!(
        unlinked(&vfs_after),
        unlinked(&overlay_after),
        "the step did not do the same"
    );
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    vfs.diff(&mut w).unwrap();
    let vfs_tar = w.finish().unwrap();

    let names = tar_names(&overlay_tar);
    eprintln!("diff layer: {names:#?}");
    assert_eq!(
        tar_names(&vfs_tar),
        names,
        "entry lists differ (overlay right)"
    );
    assert_eq!(sha(&vfs_tar), sha(&overlay_tar), "same names, other bytes");

    // Expected canonical shape.
    for n in [
        "etc/.wh.old",
        "etc/.wh.l2file",
        "etc/.wh.a",
        "etc/b",
        "var/.wh.cache",
        "usr/local/d2/r",
        "home/user/.wh.b",
        "home/user/a",
        "usr/share/doc/.wh..wh..opq",
        "usr/local/d2/.wh..wh..opq",
        "opt/dir1",
        "srv/f/",
        "srv/f/inside",
        "lib/libx",
        "lib/liby",
        "data/h2",
        "opt/opq/added",
    ] {
        assert!(names.iter().any(|x| x == n), "missing {n} in {names:#?}");
    }
    for n in [
        "var/cache/x/1",
        "var/cache/x/",
        "opt/dir1/c1",
        "lib/pair1",
        "etc/conf2.orig",
        "opt/opq/new1",
        "usr/share/doc/.wh.x",
    ] {
        assert!(!names.iter().any(|x| x == n), "unexpected {n}");
    }
    assert!(!names.iter().any(|x| x.contains("trusted.overlay")));

    // Base layers + diff layer, extracted the ordinary way, give the after tree.
    let out = t.join("replay");
    for tar in [&l1, &l2, &overlay_tar] {
        unpack(tar, &out, WhiteoutMode::Apply);
    }
    let replay = signature(&Root::open(&out).unwrap());
    assert_eq!(replay, overlay_after);
}

#[test]
fn overlay_fallback_apis_and_single_lower() {
    use kiln_layer::snapshot::{mount_with, MountApi};
    let tmp = tempfile::tempdir().unwrap();
    if !overlay_ok(tmp.path()) {
        return;
    }
    let mut lowers = Vec::new();
    for i in 0..260 {
        let d = tmp.path().join(format!(
            "layer-with-a-rather-long-directory-name-number-{i:04}"
        ));
        fs::create_dir(&d).unwrap();
        fs::write(d.join(format!("f{i}")), "x").unwrap();
        fs::write(d.join("top"), format!("{i}")).unwrap();
        lowers.push(d);
    }
    let t = tmp.path().join("t");
    let (u, w) = (tmp.path().join("u"), tmp.path().join("w"));
    for d in [&t, &u, &w] {
        fs::create_dir(d).unwrap();
    }
    // mount(2), plain paths (3 layers fit a page).
    let m = mount_with(MountApi::Legacy, &lowers[..3], None, &t).unwrap();
    assert!(t.join("f0").exists() && t.join("f2").exists());
    assert_eq!(fs::read_to_string(t.join("top")).unwrap(), "2");
    m.unmount().unwrap();
    // mount(2) with 150 long paths (~10 KB): the /proc/self/fd symlink farm,
    // writable, order kept, farm removed.
    let m = mount_with(MountApi::Legacy, &lowers[..150], Some((&u, &w)), &t).unwrap();
    assert!(t.join("f0").exists() && t.join("f149").exists());
    assert_eq!(fs::read_to_string(t.join("top")).unwrap(), "149");
    fs::write(t.join("new"), "n").unwrap();
    assert!(u.join("new").exists());
    assert!(!tmp.path().join("t.kiln-lowers").exists());
    m.unmount().unwrap();
    // Past what even short names fit, the legacy call refuses with advice.
    let e = mount_with(MountApi::Legacy, &lowers, None, &t).unwrap_err();
    assert!(e.to_string().contains("lowerdir+"), "{e}");
    assert!(!tmp.path().join("t.kiln-lowers").exists());
    // The default path takes all 260.
    let m = mount_with(MountApi::Auto, &lowers, None, &t).unwrap();
    assert!(t.join("f259").exists());
    assert_eq!(fs::read_to_string(t.join("top")).unwrap(), "259");
    drop(m);
    // One lower and no upper: an empty bottom layer is added and removed.
    let m = OverlaySnapshot::mount_readonly(&lowers[..1], &t).unwrap();
    assert!(t.join("f0").exists());
    assert!(tmp.path().join("t.kiln-empty").is_dir());
    m.unmount().unwrap();
    assert!(!tmp.path().join("t.kiln-empty").exists());
    assert!(!fs::read_to_string("/proc/mounts")
        .unwrap()
        .contains(t.to_str().unwrap()));
}

#[test]
fn redirected_upper_dirs_are_refused() {
    if !skip_unless_root("trusted xattrs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = mkdirs(tmp.path(), &["upper/new", "lower"]);
    let up = Root::open(&tmp.path().join("upper")).unwrap();
    up.set_xattr("new", "trusted.overlay.redirect", b"/old")
        .unwrap();
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    let e = diff_overlay_upper(&up, &Root::open(&d[1]).unwrap(), &mut w).unwrap_err();
    assert!(e.to_string().contains("redirect_dir=off"), "{e}");
}
