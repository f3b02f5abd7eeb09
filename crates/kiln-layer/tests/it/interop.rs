//! Interoperability with GNU tar, both directions.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use kiln_layer::{extract, write_tree, ExtractOptions, Kind, LayerWriter, TarOptions};

use crate::common::{run, Env};

fn gnu_tar() -> bool {
    let (ok, out, _) = run(Command::new("tar").arg("--version"));
    if ok && out.contains("GNU tar") {
        true
    } else {
        eprintln!("SKIPPED: GNU tar is not installed");
        false
    }
}

#[test]
fn extract_a_gnu_tar_archive() {
    if !gnu_tar() {
        return;
    }
    let env = Env::new();
    let src = env.outer.join("src");
    fs::create_dir_all(src.join("dir")).expect("mkdir");
    fs::write(src.join("dir/file"), b"content").expect("write");
    fs::hard_link(src.join("dir/file"), src.join("hard")).expect("link");
    std::os::unix::fs::symlink("dir/file", src.join("sym")).expect("symlink");
    let long = "l".repeat(150);
    fs::write(src.join(&long), b"long").expect("write");
    for format in ["gnu", "pax", "ustar"] {
        let tarball = env.outer.join(format!("{format}.tar"));
        let mut cmd = Command::new("tar");
        cmd.arg(format!("--format={format}"))
            .arg("-C")
            .arg(&src)
            .arg("-cf")
            .arg(&tarball)
            .args(["dir", "hard", "sym"]);
        if format != "ustar" {
            cmd.arg(&long);
        }
        let (ok, _, err) = run(&mut cmd);
        assert!(ok, "GNU tar failed: {err}");
        let dst = Env::new();
        let before = dst.snapshot();
        let f = fs::File::open(&tarball).expect("open");
        let stats = extract(f, &dst.root, &ExtractOptions::default()).expect("extract");
        dst.assert_outside_unchanged(&before);
        let r = &dst.root;
        assert_eq!(
            fs::read(dst.host("dir/file")).expect("read"),
            b"content",
            "{format}"
        );
        assert_eq!(
            r.read_link("/sym").expect("readlink"),
            std::path::Path::new("dir/file")
        );
        let (a, b) = (
            r.lstat("/dir/file").expect("lstat").expect("x"),
            r.lstat("/hard").expect("lstat").expect("x"),
        );
        assert_eq!(a.ino, b.ino, "{format}: hard link");
        assert_eq!(stats.hardlinks, 1, "{format}");
        assert_eq!(
            a.mtime.0,
            fs::metadata(src.join("dir/file")).expect("stat").mtime()
        );
        if format != "ustar" {
            assert_eq!(
                fs::read(dst.host(&long)).expect("read"),
                b"long",
                "{format}"
            );
        }
        assert_eq!(r.lstat("/dir").expect("lstat").expect("x").kind, Kind::Dir);
    }
}

#[test]
fn gnu_tar_lists_and_extracts_layer_writer_output() {
    if !gnu_tar() {
        return;
    }
    let env = Env::new();
    crate::writer::populate(&env.root, 1_600_000_000);
    let long = format!("/{}", "n".repeat(140));
    drop(env.root.create_file(&long, 0o640).expect("create"));
    let mut w = LayerWriter::new(Vec::new(), TarOptions::default());
    write_tree(&env.root, &mut w).expect("write");
    let tarball = env.outer.join("layer.tar");
    fs::write(&tarball, w.finish().expect("finish")).expect("save");
    let (ok, out, err) = run(Command::new("tar").arg("-tvf").arg(&tarball));
    assert!(ok, "tar -tvf failed: {err}");
    assert!(err.is_empty(), "tar warnings: {err}");
    for needle in [
        "usr/bin/su",
        "srv/su-link -> ../usr/bin/su",
        "usr/bin/z-hardlink link to usr/bin/a-file",
        &long[1..],
        "-rwsr-xr-x",
        "drwxrwxrwt",
        "prw-------",
        "2020-09-13",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // GNU tar extracts it too, with xattrs.
    let out_dir = env.outer.join("gnu-out");
    fs::create_dir(&out_dir).expect("mkdir");
    let (ok, _, err) = run(Command::new("tar")
        .arg("--xattrs")
        .arg("--xattrs-include=*")
        .arg("-xpf")
        .arg(&tarball)
        .arg("-C")
        .arg(&out_dir));
    assert!(ok, "tar -x failed: {err}");
    assert_eq!(
        fs::read(out_dir.join("usr/bin/a-file")).expect("read"),
        vec![b'x'; 1000]
    );
    let gnu = kiln_layer::Root::open(&out_dir).expect("root");
    assert_eq!(
        gnu.get_xattrs("/usr/bin/a-file")
            .expect("xattrs")
            .get("user.note")
            .map(Vec::as_slice),
        Some(&b"hello"[..])
    );
}
