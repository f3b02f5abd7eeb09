//! Hostile tarballs and images: every tar kiln extracts (import, load + build/export,
//! ADD, a context on standard input) stays inside its root. Each attack aims at a
//! sentinel directory inside the test's own temp dir, and each test checks that nothing
//! outside the store and the output path was written.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::{
    assert_fails, assert_unchanged, s, snapshot, tar_bytes, tar_listing, write_docker_archive,
    write_tar, Seen, TarEntry, TestEnv,
};

/// A relative name that climbs from any extraction root up to `abs` on the host.
fn climb(abs: &Path) -> String {
    format!("{}{}", "../".repeat(40), s(abs).trim_start_matches('/'))
}

/// A container path equal to the host path `abs` (what an absolute name becomes inside
/// the root), relative to an exported root `dir`.
fn inside(dir: &Path, abs: &Path) -> PathBuf {
    dir.join(s(abs).trim_start_matches('/'))
}

/// The whole test directory except the store and the given outputs, with `TMPDIR` for
/// kiln pointed at an empty directory inside it (so stray temp files are seen too).
struct Watch {
    skip: Vec<PathBuf>,
    before: BTreeMap<PathBuf, Seen>,
    root: PathBuf,
}

impl Watch {
    fn start(env: &TestEnv, outputs: &[&Path]) -> Watch {
        std::fs::create_dir_all(env.path().join("tmpdir")).expect("mkdir tmpdir");
        let mut skip = vec![env.store()];
        skip.extend(outputs.iter().map(|p| p.to_path_buf()));
        let refs: Vec<&Path> = skip.iter().map(PathBuf::as_path).collect();
        Watch {
            before: snapshot(env.path(), &refs),
            root: env.path().to_path_buf(),
            skip,
        }
    }

    fn check(&self) {
        let refs: Vec<&Path> = self.skip.iter().map(PathBuf::as_path).collect();
        assert_unchanged(
            "outside the store and the outputs",
            &self.before,
            &snapshot(&self.root, &refs),
        );
    }
}

fn kiln_tmp(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let tmp = env.path().join("tmpdir");
    env.kiln()
        .env("TMPDIR", &tmp)
        .args(args)
        .output()
        .expect("run kiln")
}

/// The store holds no image and no leftover scratch space.
fn assert_store_clean(env: &TestEnv) {
    let ids = env.ok(&["images", "-q"]);
    assert_eq!(ids.trim(), "", "a refused import left an image");
    let tmp = env.store().join("tmp");
    if tmp.is_dir() {
        let left: Vec<_> = std::fs::read_dir(&tmp).expect("read store tmp").collect();
        assert!(left.is_empty(), "scratch space left in the store: {left:?}");
    }
}

#[test]
fn import_refuses_names_that_climb_out() {
    let env = TestEnv::new();
    let sentinel = env.sentinel();
    let tar = env.path().join("in/climb.tar");
    let name = climb(&sentinel.join("x"));
    write_tar(
        &tar,
        &[
            TarEntry::file("ok.txt", "ok\n"),
            TarEntry::file(&name, "pwned\n"),
        ],
    );
    let w = Watch::start(&env, &[]);
    let out = kiln_tmp(&env, &["import", s(&tar), "evil:1"]);
    assert_fails(
        &out,
        1,
        &[
            "cannot unpack the tarball",
            &format!("{name:?}"),
            "climbs above the root",
            "refusing",
        ],
    );
    w.check();
    assert_store_clean(&env);
}

#[test]
fn import_keeps_absolute_names_inside_the_root() {
    let env = TestEnv::new();
    let sentinel = env.sentinel();
    let tar = env.path().join("in/abs.tar");
    write_tar(
        &tar,
        &[
            TarEntry::file(s(&sentinel.join("x")), "abs\n"),
            TarEntry::file(s(&sentinel.join("secret")), "overwritten\n"),
        ],
    );
    let rootfs = env.path().join("rootfs");
    let w = Watch::start(&env, &[&rootfs]);
    let out = kiln_tmp(&env, &["import", s(&tar), "abs:1"]);
    assert!(out.status.success(), "{}", support::show(&out));
    let out = kiln_tmp(&env, &["export", "abs:1", "-o", s(&rootfs)]);
    assert!(out.status.success(), "{}", support::show(&out));
    w.check();
    assert_eq!(
        std::fs::read_to_string(inside(&rootfs, &sentinel.join("x"))).expect("read x"),
        "abs\n"
    );
    assert_eq!(
        std::fs::read_to_string(inside(&rootfs, &sentinel.join("secret"))).expect("read"),
        "overwritten\n"
    );
    assert_eq!(
        std::fs::read_to_string(sentinel.join("secret")).expect("read sentinel"),
        "sentinel\n"
    );
}

#[test]
fn import_writes_through_planted_symlinks_stay_inside() {
    let env = TestEnv::new();
    let sentinel = env.sentinel();
    let tar = env.path().join("in/links.tar");
    write_tar(
        &tar,
        &[
            // An absolute link, then a file "under" it.
            TarEntry::symlink("abs", s(&sentinel)),
            TarEntry::file("abs/x", "through abs\n"),
            TarEntry::file("abs/secret", "replaced\n"),
            // A relative link that climbs, then a file under it.
            TarEntry::symlink("rel", &climb(&sentinel)),
            TarEntry::file("rel/y", "through rel\n"),
            // A link to a file, then the same name as a file: replaces the link.
            TarEntry::symlink("filelink", s(&sentinel.join("secret"))),
            TarEntry::file("filelink", "replaced the link\n"),
            // A directory made through a link.
            TarEntry::dir("abs/newdir/"),
        ],
    );
    let rootfs = env.path().join("rootfs");
    let w = Watch::start(&env, &[&rootfs]);
    let out = kiln_tmp(&env, &["import", s(&tar), "links:1"]);
    assert!(out.status.success(), "{}", support::show(&out));
    let out = kiln_tmp(&env, &["export", "links:1", "-o", s(&rootfs)]);
    assert!(out.status.success(), "{}", support::show(&out));
    w.check();
    // The links are kept as links ...
    assert_eq!(
        std::fs::read_link(rootfs.join("abs")).expect("abs is a link"),
        sentinel
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("rel")).expect("rel is a link"),
        PathBuf::from(climb(&sentinel))
    );
    // ... and what was written through them is inside the root, where the link points
    // when the root is the container's /.
    let in_root = inside(&rootfs, &sentinel);
    assert_eq!(
        std::fs::read_to_string(in_root.join("x")).expect("x"),
        "through abs\n"
    );
    assert_eq!(
        std::fs::read_to_string(in_root.join("y")).expect("y"),
        "through rel\n"
    );
    assert_eq!(
        std::fs::read_to_string(in_root.join("secret")).expect("secret"),
        "replaced\n"
    );
    assert!(in_root.join("newdir").is_dir());
    let fl = rootfs.join("filelink");
    assert!(std::fs::symlink_metadata(&fl).expect("filelink").is_file());
    assert_eq!(
        std::fs::read_to_string(&fl).expect("filelink"),
        "replaced the link\n"
    );
}

#[test]
fn hardlinks_to_outside_are_refused() {
    let env = TestEnv::new();
    let sentinel = env.sentinel();
    let secret = sentinel.join("secret");
    let cases: Vec<(&str, Vec<TarEntry>, Vec<&str>)> = vec![
        (
            "climbing",
            vec![TarEntry::hardlink("h", &climb(&secret))],
            vec!["\"h\"", "hard link target", "climbs above the root"],
        ),
        (
            "absolute",
            vec![TarEntry::hardlink("h", s(&secret))],
            vec!["\"h\"", "hard link target", "refusing"],
        ),
        (
            "through-symlink",
            vec![
                TarEntry::symlink("s", s(&sentinel)),
                TarEntry::hardlink("h", "s/secret"),
            ],
            vec!["\"h\"", "hard link target \"s/secret\"", "refusing"],
        ),
    ];
    let w = Watch::start(&env, &[]);
    for (label, entries, phrases) in cases {
        let tar = env.path().join(format!("{label}.tar"));
        std::fs::write(&tar, tar_bytes(&entries)).expect("write tar");
        let out = kiln_tmp(&env, &["import", s(&tar), "hl:1"]);
        let mut want = vec!["cannot unpack the tarball"];
        want.extend(phrases);
        assert_fails(&out, 1, &want);
        std::fs::remove_file(&tar).expect("rm tar");
    }
    // The snapshot covers the sentinel's link count too.
    w.check();
    assert_store_clean(&env);
}

#[test]
fn devices_and_fifos_are_kept_as_entries_never_opened() {
    let env = TestEnv::new();
    let tar = env.path().join("in/dev.tar");
    write_tar(
        &tar,
        &[
            TarEntry::dir("dev/"),
            TarEntry::device("dev/null", b'3', 1, 3).mode(0o666),
            TarEntry::device("dev/sda", b'4', 8, 0).mode(0o660),
            TarEntry::fifo("dev/pipe"),
            // A file written after a device of the same name replaces it, never
            // writes into it.
            TarEntry::device("dev/zero", b'3', 1, 5),
            TarEntry::file("dev/zero", "plain file now\n"),
        ],
    );
    let saved = env.path().join("saved");
    let exported = env.path().join("exported.tar");
    let w = Watch::start(&env, &[&saved, &exported]);
    let mut cmd = env.kiln();
    cmd.env("TMPDIR", env.path().join("tmpdir"))
        .args(["import", s(&tar), "dev:1"]);
    let out = support::output_within(&mut cmd, 60);
    assert!(out.status.success(), "{}", support::show(&out));
    let mut cmd = env.kiln();
    cmd.args(["export", "dev:1", "-o", s(&exported)]);
    let out = support::output_within(&mut cmd, 60);
    assert!(out.status.success(), "{}", support::show(&out));
    w.check();
    let listing = tar_listing(&exported);
    // mode, owner, size (or major,minor) of each member.
    let fields = |name: &str| -> Vec<String> {
        let l = listing
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("{name} missing from the exported tar:\n{listing}"));
        l.split_whitespace().take(3).map(str::to_string).collect()
    };
    assert_eq!(
        fields("dev/null"),
        ["crw-rw-rw-", "0/0", "1,3"],
        "{listing}"
    );
    assert_eq!(fields("dev/sda"), ["brw-rw----", "0/0", "8,0"], "{listing}");
    assert_eq!(fields("dev/pipe"), ["prw-r--r--", "0/0", "0"], "{listing}");
    assert_eq!(fields("dev/zero"), ["-rw-r--r--", "0/0", "15"], "{listing}");
}

#[test]
fn loaded_image_with_a_symlink_in_a_lower_layer_stays_inside() {
    let env = TestEnv::new();
    let sentinel = env.sentinel();
    let archive = env.path().join("in/layers.tar");
    let lower = tar_bytes(&[
        TarEntry::symlink("evil", s(&sentinel)),
        TarEntry::symlink("up", &climb(&sentinel)),
    ]);
    let upper = tar_bytes(&[
        TarEntry::file("evil/x", "upper x\n"),
        TarEntry::file("evil/secret", "upper secret\n"),
        TarEntry::file("up/y", "upper y\n"),
        TarEntry::hardlink("evil/hl", "evil/x"),
    ]);
    // Whiteouts through the links (both lead to the same place inside the root) remove
    // only what is inside the root.
    let whiteouts = tar_bytes(&[
        TarEntry::file("evil/.wh.hl", ""),
        TarEntry::file("up/.wh..wh..opq", ""),
        TarEntry::file("up/z", "after opaque\n"),
    ]);
    write_docker_archive(&archive, "layered:1", &[lower, upper, whiteouts]);
    let ctx = env.context(
        "ctx",
        &[
            ("f.txt", "copied\n"),
            (
                "Dockerfile",
                "FROM layered:1\nCOPY f.txt /evil/copied\nCOPY f.txt /up/\nWORKDIR /evil/wd\n",
            ),
        ],
    );
    // ADD of a tar that writes through the lower layer's link.
    write_tar(
        &ctx.join("payload.tar"),
        &[TarEntry::file("evil/added", "added\n")],
    );
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM layered:1\nCOPY f.txt /evil/copied\nCOPY f.txt /up/\nWORKDIR /evil/wd\nADD payload.tar /\n",
    )
    .expect("write Dockerfile");
    let rootfs = env.path().join("rootfs");
    let built = env.path().join("built");
    let w = Watch::start(&env, &[&rootfs, &built]);
    for args in [
        vec!["load", "-i", s(&archive)],
        vec!["export", "layered:1", "-o", s(&rootfs)],
        vec![
            "build",
            "-q",
            "-t",
            "on-layered:1",
            "-o",
            &format!("type=local,dest={}", s(&built)),
            s(&ctx),
        ],
    ] {
        let out = kiln_tmp(&env, &args);
        assert!(
            out.status.success(),
            "kiln {args:?}\n{}",
            support::show(&out)
        );
    }
    w.check();
    let r = inside(&rootfs, &sentinel);
    let mut left: Vec<String> = std::fs::read_dir(&r)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    // The whiteout removed hl inside the root; an opaque marker under a path that is a
    // symlink is not applied (kiln clears only real directories).
    assert_eq!(left, ["secret", "x", "y", "z"]);
    assert_eq!(
        std::fs::read_to_string(r.join("z")).expect("z"),
        "after opaque\n"
    );
    let b = inside(&built, &sentinel);
    for (name, content) in [
        ("copied", "copied\n"),
        ("f.txt", "copied\n"),
        ("added", "added\n"),
    ] {
        assert_eq!(
            std::fs::read_to_string(b.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")),
            content
        );
    }
    assert!(b.join("wd").is_dir());
    assert_eq!(
        std::fs::read_link(built.join("evil")).expect("evil"),
        sentinel
    );
}

#[test]
fn add_of_a_hostile_tar_fails_the_build_at_its_line() {
    let env = TestEnv::new();
    let sentinel = env.sentinel();
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM scratch\nCOPY Dockerfile /\nADD evil.tar /dest/\n",
        )],
    );
    let name = climb(&sentinel.join("x"));
    write_tar(
        &ctx.join("evil.tar"),
        &[
            TarEntry::file("fine", "fine\n"),
            TarEntry::file(&name, "pwned\n"),
        ],
    );
    // Climbing out of the destination directory (but not the root) is refused too.
    write_tar(
        &ctx.join("up.tar"),
        &[TarEntry::file("../beside", "beside\n")],
    );
    // Links planted in the ADDed tar itself stay inside the root.
    write_tar(
        &ctx.join("links.tar"),
        &[
            TarEntry::symlink("evil", s(&sentinel)),
            TarEntry::file("evil/x", "through the link\n"),
            TarEntry::symlink("file", s(&sentinel.join("secret"))),
            TarEntry::file("file", "replaced\n"),
        ],
    );
    let w = Watch::start(&env, &[]);
    let out = kiln_tmp(&env, &["build", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "Dockerfile:3:1",
            "ADD failed",
            "evil.tar",
            "climbs above the root",
        ],
    );
    // Links planted in the ADDed tar itself stay inside the root.
    let built = env.path().join("built");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nADD links.tar /\n").expect("write");
    let out = kiln_tmp(
        &env,
        &[
            "build",
            "-o",
            &format!("type=local,dest={}", s(&built)),
            s(&ctx),
        ],
    );
    assert!(out.status.success(), "{}", support::show(&out));
    assert_eq!(
        std::fs::read_to_string(inside(&built, &sentinel).join("x")).expect("x"),
        "through the link\n"
    );
    assert_eq!(
        std::fs::read_to_string(built.join("file")).expect("file"),
        "replaced\n"
    );
    std::fs::remove_dir_all(&built).expect("rm built");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nADD up.tar /dest/\n").expect("write");
    let out = kiln_tmp(&env, &["build", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &["Dockerfile:2:1", "\"../beside\"", "climbs above the root"],
    );
    // The Dockerfile was rewritten by the test itself; compare everything else.
    let mut after = snapshot(env.path(), &[&env.store()]);
    let df = ctx.join("Dockerfile");
    after.insert(df.clone(), w.before[&df].clone());
    assert_unchanged("outside the store", &w.before, &after);
}

#[test]
fn hostile_archives_are_refused_by_load() {
    let env = TestEnv::new();
    let sentinel = env.sentinel();
    let layer = tar_bytes(&[TarEntry::file("a", "a\n")]);
    // A member that climbs out, and manifest names that climb out.
    let climbing_member = env.path().join("climbing-member.tar");
    let mut entries = vec![TarEntry::file(&climb(&sentinel.join("x")), "pwned\n")];
    let good = env.path().join("good.tar");
    write_docker_archive(&good, "good:1", &[layer]);
    let good_bytes = std::fs::read(&good).expect("read good");
    // Append the good archive's members after the climbing one.
    let mut bytes = tar_bytes(&entries);
    bytes.truncate(bytes.len() - 1024);
    bytes.extend_from_slice(&good_bytes);
    std::fs::write(&climbing_member, &bytes).expect("write");
    entries.clear();
    let climbing_layer = env.path().join("climbing-layer.tar");
    let manifest = serde_json::json!([{
        "Config": "c.json",
        "RepoTags": ["x:1"],
        "Layers": [climb(&sentinel.join("secret"))],
    }]);
    let mut m = TarEntry::file("manifest.json", "");
    m.data = serde_json::to_vec(&manifest).expect("json");
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", support::sha256_hex(b"x"))]},
    });
    let mut c = TarEntry::file("c.json", "");
    c.data = serde_json::to_vec(&config).expect("json");
    write_tar(&climbing_layer, &[m, c]);
    let w = Watch::start(&env, &[]);
    let out = kiln_tmp(&env, &["load", "-i", s(&climbing_member)]);
    assert_fails(
        &out,
        1,
        &[
            "error: cannot load /",
            "climbing-member.tar: entry \"../../",
            "contains a '..' component; refusing to load this archive",
        ],
    );
    let out = kiln_tmp(&env, &["load", "-i", s(&climbing_layer)]);
    assert_fails(
        &out,
        1,
        &[
            "climbing-layer.tar: entry \"../../",
            "(manifest.json Layers) contains a '..' component; refusing to load this archive",
        ],
    );
    w.check();
    assert_store_clean(&env);
}

#[test]
fn oversized_tar_extension_headers_are_refused_by_load() {
    let env = TestEnv::new();
    let ext = |typeflag: u8, data: Vec<u8>| {
        let mut e = TarEntry::file("././@Header", "");
        e.typeflag = typeflag;
        e.data = data;
        tar_bytes(&[e])
    };
    // Declares 4 GiB and ends after the header: refused from the declared size, before
    // any of the body is read (reading it would end in a truncation error instead).
    let mut declared =
        support::header(b"././@Header", &TarEntry::file("x", ""), b'x', 4 << 30, b"").to_vec();
    declared.extend_from_slice(&[0u8; 1024]);
    let cases = [
        (
            "pax-4g.tar",
            declared,
            "PAX header is 4294967296 bytes, more than the limit of 1048576",
        ),
        (
            "pax-2m.tar",
            ext(b'x', vec![b'a'; 2 << 20]),
            "PAX header is 2097152 bytes, more than the limit of 1048576",
        ),
        (
            "longname.tar",
            ext(b'L', vec![b'a'; 100 << 10]),
            "GNU long name is 102400 bytes, more than the limit of 65536",
        ),
    ];
    for (name, bytes, _) in &cases {
        std::fs::write(env.path().join(name), bytes).expect("write");
    }
    let w = Watch::start(&env, &[]);
    for (name, _, expected) in cases {
        let path = env.path().join(name);
        let out = kiln_tmp(&env, &["load", "-i", s(&path)]);
        assert_fails(
            &out,
            1,
            &[
                "error: cannot load",
                name,
                "corrupt at byte 0",
                expected,
                "refusing to load it",
            ],
        );
    }
    w.check();
    assert_store_clean(&env);
}

#[test]
fn a_build_writes_only_the_store_and_its_outputs() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx",
        &[
            ("a.txt", "a\n"),
            ("sub/b.txt", "b\n"),
            (
                "Dockerfile",
                "FROM busybox:test AS one\nCOPY . /src/\nADD t.tar /opt/\n\
                 FROM scratch\nCOPY --from=one /src /src\nCOPY --from=busybox:test /bin/busybox /bin/\n",
            ),
        ],
    );
    write_tar(&ctx.join("t.tar"), &[TarEntry::file("t", "t\n")]);
    let outs = env.path().join("outs");
    let iid = env.path().join("iid");
    let w = Watch::start(&env, &[&outs, &iid]);
    let o = |t: &str, name: &str| format!("type={t},dest={}", s(&outs.join(name)));
    let args = [
        "build".to_string(),
        "-t".into(),
        "only:1".into(),
        "--iidfile".into(),
        s(&iid).into(),
        "-o".into(),
        o("oci", "layout"),
        "-o".into(),
        o("oci-archive", "oci.tar"),
        "-o".into(),
        o("docker-archive", "docker.tar"),
        "-o".into(),
        o("local", "rootfs"),
        s(&ctx).into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    std::fs::create_dir_all(&outs).expect("mkdir outs");
    let out = kiln_tmp(&env, &args);
    assert!(out.status.success(), "{}", support::show(&out));
    for args in [
        vec!["save", "-o", s(&outs.join("saved.tar")), "only:1"],
        vec!["export", "only:1", "-o", s(&outs.join("exported.tar"))],
        vec!["tag", "only:1", "only:2"],
        vec!["rmi", "only:2"],
    ] {
        let out = kiln_tmp(&env, &args);
        assert!(out.status.success(), "{args:?}: {}", support::show(&out));
    }
    w.check();
    let tmp: Vec<_> = std::fs::read_dir(env.path().join("tmpdir"))
        .expect("tmpdir")
        .collect();
    assert!(tmp.is_empty(), "kiln used $TMPDIR: {tmp:?}");
    assert_eq!(
        std::fs::read_to_string(&iid).expect("iid"),
        env.inspect("only:1")["Id"].as_str().expect("Id")
    );
    assert_eq!(
        std::fs::read_to_string(outs.join("rootfs/src/sub/b.txt")).expect("b"),
        "b\n"
    );
    // No scratch space is left in the store either.
    let left: Vec<_> = std::fs::read_dir(env.store().join("tmp"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "scratch space left in the store: {left:?}");
}

/// 4294967295 is the kernel's "no change" id: as USER, as a --chown owner or as a layer
/// member's owner it is refused with a message, never a panic (exit 101) or a crash of
/// the sandbox's child.
#[test]
fn id_4294967295_is_refused_without_a_panic() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let cases = [
        "FROM busybox:test\nUSER 4294967295\nRUN true\n",
        "FROM busybox:test\nUSER 0:4294967295\nRUN true\n",
        "FROM busybox:test\nCOPY --chown=4294967295:0 f /f\n",
    ];
    for (i, dockerfile) in cases.iter().enumerate() {
        let ctx = env.context(
            &format!("ctx{i}"),
            &[("Dockerfile", dockerfile), ("f", "f")],
        );
        let out = env.run(&["build", "-q", s(&ctx)]);
        assert_fails(&out, 1, &["4294967295", "Dockerfile:"]);
    }
    // Control: an ordinary high id builds.
    let ctx = env.context(
        "ctx-ok",
        &[(
            "Dockerfile",
            "FROM busybox:test\nUSER 4294967294\nRUN true\n",
        )],
    );
    env.ok(&["build", "-q", s(&ctx)]);
    let tar = env.path().join("uid.tar");
    let script = format!(
        "import io, tarfile\nt = tarfile.open({:?}, 'w', format=tarfile.PAX_FORMAT)\n\
         i = tarfile.TarInfo('f'); i.size = 1; i.uid = 4294967295\n\
         t.addfile(i, io.BytesIO(b'x')); t.close()\n",
        s(&tar)
    );
    let made = std::process::Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("python3");
    assert!(made.success());
    let out = env.run(&["import", s(&tar), "uid:1"]);
    assert_fails(&out, 1, &["uid", "4294967295"]);
}

/// A base image's /etc/passwd is read at most 16 MiB: a larger one is refused by USER and
/// COPY --chown instead of being read whole into memory.
#[test]
fn an_oversized_etc_passwd_is_refused_not_read_whole() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let mut passwd = "app:x:1000:1000::/home/app:/bin/sh\n".to_string();
    passwd.push_str(&"#".repeat(17 << 20));
    let files = |dockerfile: &'static str| {
        [
            ("Dockerfile", dockerfile),
            ("passwd", passwd.as_str()),
            ("f", "f"),
        ]
    };
    for (i, dockerfile) in [
        "FROM busybox:test\nCOPY passwd /etc/passwd\nUSER app\nRUN true\n",
        "FROM busybox:test\nCOPY passwd /etc/passwd\nCOPY --chown=app f /f\n",
    ]
    .into_iter()
    .enumerate()
    {
        let ctx = env.context(&format!("ctx{i}"), &files(dockerfile));
        let out = env.run(&["build", "-q", s(&ctx)]);
        assert_fails(&out, 1, &["/etc/passwd", "larger than 16777216 bytes"]);
    }
    // Control: the same user in an ordinary passwd resolves.
    let ctx = env.context(
        "ctx-ok",
        &[
            (
                "Dockerfile",
                "FROM busybox:test\nCOPY passwd /etc/passwd\nUSER app\nRUN true\n",
            ),
            ("passwd", "app:x:1000:1000::/home/app:/bin/sh\n"),
        ],
    );
    env.ok(&["build", "-q", s(&ctx)]);
}
