//! Deterministic layer writer, read back with the independent `tar` crate.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;

use kiln_layer::{
    write_paths, write_tree, EntryKind, EntryMeta, LayerWriter, Root, TarOptions, WriteError,
};

use crate::common::{sha, skip_unless_root, Env};

/// A small tree with every kind the writer handles (devices only as root).
pub fn populate(r: &Root, mtime: i64) {
    r.mkdir_all("/usr/bin", 0o755, None).expect("mkdir");
    r.mkdir("/tmp", 0o1777).expect("mkdir tmp");
    r.mkdir("/srv", 0o2775).expect("mkdir srv");
    let mut f = r.create_file("/usr/bin/su", 0o4755).expect("create");
    f.write_all(b"#!/bin/true\n").expect("write");
    drop(f);
    // Writing as non-root clears setuid (kernel): set the mode after content.
    r.chmod("/usr/bin/su", 0o4755).expect("chmod");
    let mut f = r.create_file("/usr/bin/a-file", 0o644).expect("create");
    f.write_all(&vec![b'x'; 1000]).expect("write");
    drop(f);
    r.hardlink("/usr/bin/a-file", "/usr/bin/z-hardlink")
        .expect("hardlink");
    r.symlink("../usr/bin/su", "/srv/su-link").expect("symlink");
    r.mknod("/srv/pipe", kiln_layer::Kind::Fifo, 0o600, 0)
        .expect("fifo");
    r.set_xattr("/usr/bin/a-file", "user.note", b"hello")
        .expect("xattr");
    if crate::common::is_root() {
        r.mknod(
            "/srv/null",
            kiln_layer::Kind::Char,
            0o666,
            kiln_layer::makedev(1, 3),
        )
        .expect("mknod");
        r.set_xattr(
            "/usr/bin/su",
            "security.capability",
            &crate::common::NET_RAW_EP,
        )
        .expect("cap");
    }
    for (p, _) in r.walk("/").expect("walk").into_iter().rev() {
        r.set_times(&p, (mtime, 123_456_789)).expect("times");
    }
}

fn layer_of(r: &Root, opts: TarOptions) -> Vec<u8> {
    let mut w = LayerWriter::new(Vec::new(), opts);
    write_tree(r, &mut w).expect("write_tree");
    w.finish().expect("finish")
}

/// (path, type byte, mode, mtime, link, xattrs, size) for each member.
type Listed = (
    String,
    u8,
    u32,
    u64,
    Option<String>,
    BTreeMap<String, Vec<u8>>,
    u64,
);

pub fn list(tarball: &[u8]) -> Vec<Listed> {
    let mut a = tar::Archive::new(tarball);
    let mut out = Vec::new();
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let mut xattrs = BTreeMap::new();
        if let Some(exts) = e.pax_extensions().expect("pax") {
            for ext in exts {
                let ext = ext.expect("pax record");
                if let Some(k) = ext.key().expect("key").strip_prefix("SCHILY.xattr.") {
                    xattrs.insert(k.to_string(), ext.value_bytes().to_vec());
                }
            }
        }
        let h = e.header();
        out.push((
            path,
            h.entry_type().as_byte(),
            h.mode().expect("mode"),
            h.mtime().expect("mtime"),
            link,
            xattrs,
            e.size(),
        ));
    }
    out
}

#[test]
fn same_tree_gives_identical_bytes() {
    let (a, b) = (Env::new(), Env::new());
    // Different inode numbers, creation order and times of day; same content.
    populate(&a.root, 1_600_000_000);
    populate(&b.root, 1_600_000_000);
    let (ta, tb) = (
        layer_of(&a.root, TarOptions::default()),
        layer_of(&b.root, TarOptions::default()),
    );
    assert_eq!(sha(&ta), sha(&tb));
    assert_eq!(ta, tb);
    assert_eq!(
        ta,
        layer_of(&a.root, TarOptions::default()),
        "same root twice"
    );
    assert_eq!(ta.len() % 512, 0);
    assert!(ta.ends_with(&[0u8; 1024]));
    // Different mtimes differ without an epoch ...
    let c = Env::new();
    populate(&c.root, 1_700_000_000);
    assert_ne!(ta, layer_of(&c.root, TarOptions::default()));
    // ... and are equal once clamped below both.
    let opts = TarOptions {
        epoch: Some(1_500_000_000),
    };
    assert_eq!(layer_of(&a.root, opts.clone()), layer_of(&c.root, opts));
}

#[test]
fn epoch_clamps_mtimes_and_drops_nanoseconds() {
    let env = Env::new();
    let r = &env.root;
    drop(r.create_file("/old", 0o644).expect("create"));
    drop(r.create_file("/new", 0o644).expect("create"));
    r.set_times("/old", (1000, 999_999_999)).expect("times");
    r.set_times("/new", (2_000_000_000, 5)).expect("times");
    let t = layer_of(
        r,
        TarOptions {
            epoch: Some(1_500_000_000),
        },
    );
    let l = list(&t);
    let m: BTreeMap<&str, u64> = l.iter().map(|e| (e.0.as_str(), e.3)).collect();
    assert_eq!(m["old"], 1000);
    assert_eq!(m["new"], 1_500_000_000);
    // No PAX header at all: whole seconds fit the ustar field.
    assert!(!t.windows(6).any(|w| w == b"mtime="));
    let t2 = layer_of(r, TarOptions::default());
    let m2: BTreeMap<String, u64> = list(&t2).into_iter().map(|e| (e.0, e.3)).collect();
    assert_eq!(m2["new"], 2_000_000_000);
}

#[test]
fn pax_long_names_long_targets_and_xattrs() {
    let env = Env::new();
    let r = &env.root;
    let long_dir = format!("/{}", ["d".repeat(60), "e".repeat(60)].join("/"));
    r.mkdir_all(&long_dir, 0o755, None).expect("mkdir");
    let long_file = format!("{long_dir}/{}", "f".repeat(90));
    let mut f = r.create_file(&long_file, 0o644).expect("create");
    f.write_all(b"long").expect("write");
    drop(f);
    let long_target = format!("/{}", "t".repeat(150));
    r.symlink(&long_target, "/lnk").expect("symlink");
    // (The `tar` crate splits PAX records on '\n', so no newline here; see
    // the extract tests for values with newlines.)
    r.set_xattr(&long_file, "user.bin", b"\x00\x01= \xff")
        .expect("xattr");
    if skip_unless_root("security.capability in PAX") {
        r.set_xattr(
            &long_file,
            "security.capability",
            &crate::common::NET_RAW_EP,
        )
        .expect("cap");
    }
    if crate::common::is_root() {
        r.set_xattr(&long_dir, "trusted.overlay.opaque", b"y")
            .expect("overlay xattr");
    }
    let t = layer_of(r, TarOptions::default());
    assert!(
        !t.windows(15).any(|w| w == b"trusted.overlay"),
        "overlayfs bookkeeping must not reach layers"
    );
    let l = list(&t);
    let file = l
        .iter()
        .find(|e| e.0 == long_file[1..])
        .expect("long file present with its full name");
    assert!(file.0.len() > 100);
    assert_eq!(
        file.5.get("user.bin").map(Vec::as_slice),
        Some(&b"\x00\x01= \xff"[..])
    );
    if crate::common::is_root() {
        assert_eq!(
            file.5.get("security.capability").map(Vec::as_slice),
            Some(&crate::common::NET_RAW_EP[..])
        );
    }
    let dir = l
        .iter()
        .find(|e| e.0 == format!("{}/", &long_dir[1..]))
        .expect("long dir");
    assert_eq!(dir.1, b'5');
    let lnk = l.iter().find(|e| e.0 == "lnk").expect("lnk");
    assert_eq!(lnk.4.as_deref(), Some(long_target.as_str()));
    // PAX headers have deterministic names, not pids.
    assert!(t.windows(13).any(|w| w == b"PaxHeaders.0/"));
}

#[test]
fn hardlinks_detected_by_inode() {
    let env = Env::new();
    let r = &env.root;
    let mut f = r.create_file("/a", 0o644).expect("create");
    f.write_all(b"shared").expect("write");
    drop(f);
    r.mkdir("/sub", 0o755).expect("mkdir");
    r.hardlink("/a", "/sub/b").expect("link");
    r.hardlink("/a", "/c").expect("link");
    let l = list(&layer_of(r, TarOptions::default()));
    let names: Vec<(&str, u8, Option<&str>)> = l
        .iter()
        .map(|e| (e.0.as_str(), e.1, e.4.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("a", b'0', None),
            ("c", b'1', Some("a")),
            ("sub/", b'5', None),
            ("sub/b", b'1', Some("a")),
        ]
    );
    assert_eq!(l[1].6, 0, "hard link entries carry no data");
    // Among emitted paths only: the first emitted occurrence carries data.
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    write_paths(r, &["/sub/b".to_string(), "/c".into()], &mut w).expect("write_paths");
    let l = list(&w.finish().expect("finish"));
    let names: Vec<(&str, u8, Option<&str>)> = l
        .iter()
        .map(|e| (e.0.as_str(), e.1, e.4.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("c", b'0', None),
            ("sub/", b'5', None),
            ("sub/b", b'1', Some("c"))
        ]
    );
}

#[test]
fn whiteouts_opaque_and_modes() {
    let meta = |mode| EntryMeta {
        mode,
        uid: 0,
        gid: 0,
        mtime: 10,
        xattrs: BTreeMap::new(),
    };
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    w.add_entry("etc", &meta(0o755), EntryKind::Dir, None)
        .expect("dir");
    w.add_entry("etc/shadow", &meta(0), EntryKind::Whiteout, None)
        .expect("wh");
    w.add_entry("/var/cache", &meta(0o755), EntryKind::Opaque, None)
        .expect("opq");
    w.add_entry("gone", &meta(0), EntryKind::Whiteout, None)
        .expect("wh");
    w.add_entry("tmp", &meta(0o1777), EntryKind::Dir, None)
        .expect("tmp");
    w.add_entry("srv", &meta(0o2755), EntryKind::Dir, None)
        .expect("srv");
    let mut c: &[u8] = b"#!";
    w.add_entry(
        "su",
        &meta(0o104755),
        EntryKind::File { size: 2 },
        Some(&mut c),
    )
    .expect("su");
    w.add_entry("fifo", &meta(0o644), EntryKind::Fifo, None)
        .expect("fifo");
    w.add_entry(
        "dev/null",
        &meta(0o666),
        EntryKind::Char { major: 1, minor: 3 },
        None,
    )
    .expect("dev");
    assert!(w.was_emitted("etc/.wh.shadow"));
    assert!(!w.was_emitted("etc/shadow"));
    let t = w.finish().expect("finish");
    let l = list(&t);
    let got: Vec<(&str, u8, u32)> = l.iter().map(|e| (e.0.as_str(), e.1, e.2)).collect();
    assert_eq!(
        got,
        [
            ("etc/", b'5', 0o755),
            ("etc/.wh.shadow", b'0', 0),
            ("var/cache/.wh..wh..opq", b'0', 0o755),
            (".wh.gone", b'0', 0),
            ("tmp/", b'5', 0o1777),
            ("srv/", b'5', 0o2755),
            ("su", b'0', 0o4755),
            ("fifo", b'6', 0o644),
            ("dev/null", b'3', 0o666),
        ]
    );
    // Raw header fields: empty uname/gname, zero devmajor/minor for
    // non-devices, ustar magic.
    let first = &t[..512];
    assert_eq!(&first[257..265], b"ustar\x0000");
    assert!(first[265..329].iter().all(|b| *b == 0), "uname/gname empty");
    assert_eq!(&first[329..345], b"0000000\x000000000\x00");
    let mut a = tar::Archive::new(&t[..]);
    let dev = a
        .entries()
        .expect("entries")
        .map(|e| e.expect("entry"))
        .find(|e| e.header().entry_type().is_character_special())
        .expect("dev");
    assert_eq!(dev.header().device_major().expect("major"), Some(1));
    assert_eq!(dev.header().device_minor().expect("minor"), Some(3));
}

#[test]
fn write_paths_adds_ancestors_once_sorted() {
    let env = Env::new();
    let r = &env.root;
    r.mkdir_all("/a/b/c", 0o755, None).expect("mkdir");
    r.mkdir_all("/a/b-x", 0o700, None).expect("mkdir");
    drop(r.create_file("/a/b/c/f", 0o644).expect("create"));
    drop(r.create_file("/a/b-x/g", 0o600).expect("create"));
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    write_paths(
        r,
        &[
            "/a/b-x/g".to_string(),
            "a/b/c/f".into(),
            "/a/b/../b/c/f".into(),
        ],
        &mut w,
    )
    .expect("write_paths");
    // A second call does not repeat what was emitted.
    write_paths(r, &["/a/b/c/f".to_string(), "/a".into()], &mut w).expect("again");
    let l = list(&w.finish().expect("finish"));
    let names: Vec<&str> = l.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        ["a/", "a/b/", "a/b/c/", "a/b/c/f", "a/b-x/", "a/b-x/g"]
    );
    let modes: Vec<u32> = l.iter().map(|e| e.2).collect();
    assert_eq!(modes, [0o755, 0o755, 0o755, 0o644, 0o700, 0o600]);
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    let e = write_paths(r, &["/a/nope".to_string()], &mut w).expect_err("missing");
    assert!(matches!(e, WriteError::Missing { .. }), "{e}");
    assert!(e.to_string().contains("/a/nope"), "{e}");
}

#[test]
fn content_size_must_match_and_paths_are_checked() {
    let meta = EntryMeta {
        mode: 0o644,
        ..EntryMeta::default()
    };
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    let mut short: &[u8] = b"abc";
    let e = w
        .add_entry("f", &meta, EntryKind::File { size: 5 }, Some(&mut short))
        .expect_err("short");
    assert!(
        matches!(
            e,
            WriteError::SizeMismatch {
                want: 5,
                got: 3,
                ..
            }
        ),
        "{e}"
    );
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    let mut long: &[u8] = b"abcdef";
    let e = w
        .add_entry("f", &meta, EntryKind::File { size: 5 }, Some(&mut long))
        .expect_err("long");
    assert!(matches!(e, WriteError::SizeMismatch { .. }), "{e}");
    assert_eq!(
        e.kind(),
        kiln_oci::ErrorKind::Io,
        "a file that changed while read: {e}"
    );
    for bad in ["", "/", "a/../b", "../x", "./"] {
        let e = w
            .add_entry(bad, &meta, EntryKind::Dir, None)
            .expect_err("bad path");
        assert!(matches!(e, WriteError::InvalidEntry { .. }), "{bad:?}: {e}");
        assert_eq!(e.kind(), kiln_oci::ErrorKind::Rejected, "{bad:?}: {e}");
    }
    let e = w
        .add_entry(
            "h",
            &meta,
            EntryKind::Hardlink {
                target: PathBuf::from("../etc/passwd"),
            },
            None,
        )
        .expect_err("bad link");
    assert!(e.to_string().contains("hard link target"), "{e}");
}

#[test]
fn large_ids_and_negative_mtime_use_pax() {
    let meta = EntryMeta {
        mode: 0o644,
        uid: 100_000_000,
        gid: 3_000_000,
        mtime: -5,
        xattrs: BTreeMap::new(),
    };
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    w.add_entry("f", &meta, EntryKind::Fifo, None).expect("add");
    let t = w.finish().expect("finish");
    let mut a = tar::Archive::new(&t[..]);
    let mut e = a
        .entries()
        .expect("entries")
        .next()
        .expect("one")
        .expect("entry");
    let mut recs = BTreeMap::new();
    for x in e.pax_extensions().expect("pax").expect("has pax") {
        let x = x.expect("rec");
        recs.insert(
            x.key().expect("key").to_string(),
            x.value().expect("val").to_string(),
        );
    }
    assert_eq!(recs["uid"], "100000000");
    assert_eq!(recs["gid"], "3000000");
    assert_eq!(recs["mtime"], "-5");
    let mut s = String::new();
    e.read_to_string(&mut s).expect("read");
}

#[test]
fn sockets_are_skipped_and_reported() {
    let env = Env::new();
    let r = &env.root;
    r.mknod("/sock", kiln_layer::Kind::Socket, 0o755, 0)
        .expect("socket node");
    drop(r.create_file("/f", 0o644).expect("create"));
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    write_tree(r, &mut w).expect("write_tree");
    assert_eq!(w.skipped(), [PathBuf::from("/sock")]);
    let l = list(&w.finish().expect("finish"));
    assert_eq!(l.len(), 1);
    assert!(fs::metadata(env.host("sock")).is_ok());
}
