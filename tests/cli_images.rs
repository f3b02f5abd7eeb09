//! The image commands as users see them: import, images, inspect, history, tag, rmi,
//! save + load round trips, export; and the messages and exit codes of what kiln refuses.

mod support;

use support::{assert_fails, s, TestEnv};

/// The NAME column of `kiln images`.
fn names(env: &TestEnv) -> Vec<String> {
    env.ok(&["images"])
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().expect("name").to_string())
        .collect()
}

#[test]
fn import_tag_inspect_history_rmi() {
    let env = TestEnv::new();
    let tar = support::busybox_tarball();
    let id = env.ok(&["import", s(&tar), "base:1"]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let list = env.ok(&["images"]);
    let mut lines = list.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(header, ["NAME", "IMAGE", "ID", "CREATED"]);
    let row: Vec<&str> = lines.next().expect("row").split_whitespace().collect();
    assert_eq!(row[0], "docker.io/library/base:1");
    assert_eq!(row[1], &id[7..19]);
    assert_eq!(env.ok(&["images", "-q"]), format!("{}\n", &id[7..19]));
    assert!(env.ok(&["images", "--no-trunc"]).contains(id));

    env.ok(&["tag", "base:1", "other/repo:v2", "localhost:5000/x"]);
    assert_eq!(
        names(&env),
        [
            "docker.io/library/base:1",
            "docker.io/other/repo:v2",
            "localhost:5000/x:latest"
        ]
    );
    let i = env.inspect("localhost:5000/x");
    assert_eq!(i["Id"], id);
    assert_eq!(i["Os"], "linux");
    assert_eq!(i["RootFS"]["Layers"].as_array().expect("layers").len(), 1);
    assert_eq!(i["RepoTags"].as_array().expect("tags").len(), 3);
    // Also by ID, short ID and manifest digest.
    let digest = i["Digest"].as_str().expect("digest").to_string();
    for r in [id, &id[7..19], digest.as_str()] {
        assert_eq!(env.inspect(r)["Id"], id, "inspect {r}");
    }
    let history = env.ok(&["history", "base:1"]);
    let rows: Vec<&str> = history.lines().collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert!(rows[1].ends_with("yes      kiln import"), "{history}");

    assert_eq!(
        env.ok(&["rmi", "base:1"]),
        "Untagged: docker.io/library/base:1\n"
    );
    assert_eq!(names(&env).len(), 2);
    assert_eq!(
        env.ok(&["rmi", "other/repo:v2", "localhost:5000/x"]),
        format!(
            "Untagged: docker.io/other/repo:v2\nUntagged: localhost:5000/x:latest\nDeleted: {id}\n"
        )
    );
    assert_eq!(env.ok(&["images", "-q"]), "");
}

#[test]
fn unknown_images_and_bad_names_are_refused() {
    let env = TestEnv::new();
    env.import_busybox("base:1");
    for args in [
        vec!["inspect", "nope:1"],
        vec!["history", "nope:1"],
        vec!["tag", "nope:1", "x:1"],
        vec!["rmi", "nope:1"],
        vec!["save", "-o", "/dev/null", "nope:1"],
        vec!["export", "nope:1", "-o", "unused"],
    ] {
        let out = env.run(&args);
        assert_fails(
            &out,
            1,
            &["error: no such image: nope:1; list images with `kiln images`"],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.lines().count(),
            1,
            "{args:?}: one line, said once: {err}"
        );
    }
    assert!(!env.path().join("unused").exists());
    let out = env.run(&["tag", "base:1", "Bad Name"]);
    assert_fails(
        &out,
        1,
        &[
            "invalid name \"Bad Name\"",
            "components are lowercase letters",
        ],
    );
    let out = env.run(&["tag", "base:1", "Base:2"]);
    assert_fails(&out, 1, &["must be lowercase", "hint: use \"base:2\""]);
    // build -t is checked before any step runs: nothing is built or stored.
    let ctx = env.context(
        "ctx-badtag",
        &[("Dockerfile", "FROM base:1\nRUN echo ran\n")],
    );
    let before = names(&env);
    let out = env.run(&["build", "-t", "Bad Name::x", s(&ctx)]);
    assert_fails(&out, 2, &["-t \"Bad Name::x\"", "invalid reference format"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("ran"));
    assert_eq!(names(&env), before, "nothing was stored");
    let tar = support::busybox_tarball();
    let out = env.run(&["import", s(&tar), "Bad:Name"]);
    assert_fails(
        &out,
        1,
        &[
            "invalid image name \"Bad:Name\"",
            "hint: name the image NAME[:TAG]",
        ],
    );
    // Only base:1 is there, unchanged.
    assert_eq!(names(&env), ["docker.io/library/base:1"]);
    // Files that are not what they should be.
    let junk = env.path().join("junk.tar");
    std::fs::write(&junk, "junk").expect("write");
    let out = env.run(&["import", s(&junk), "j:1"]);
    assert_fails(
        &out,
        1,
        &[
            "cannot unpack the tarball",
            "truncated or corrupt",
            "hint: nothing was imported",
        ],
    );
    let out = env.run(&["load", "-i", s(&junk)]);
    assert_fails(&out, 1, &["cannot load", "junk.tar"]);
    let missing = env.path().join("missing.tar");
    let out = env.run(&["import", s(&missing), "m:1"]);
    assert_fails(&out, 3, &["cannot open", "missing.tar", "No such file"]);
    let out = env.run(&["load", "-i", s(&missing)]);
    assert_fails(&out, 3, &["cannot load", "missing.tar", "No such file"]);
    assert_eq!(names(&env), ["docker.io/library/base:1"]);
}

#[test]
fn save_and_load_round_trip_in_every_format() {
    let env = TestEnv::new();
    env.import_busybox("base:1");
    let ctx = env.context(
        "ctx",
        &[
            ("f.txt", "f\n"),
            (
                "Dockerfile",
                "FROM base:1\nCOPY f.txt /f.txt\nENTRYPOINT [\"cat\"]\nCMD [\"/f.txt\"]\n",
            ),
        ],
    );
    env.ok(&["build", "-q", "-t", "app:1", "-t", "app:latest", s(&ctx)]);
    let app = env.inspect("app:1");
    let base = env.inspect("base:1");
    for format in ["oci-archive", "docker-archive", "oci-dir"] {
        let out = env.path().join(format!("saved-{format}"));
        env.ok(&[
            "save",
            "--format",
            format,
            "-o",
            s(&out),
            "app:1",
            "base:1",
            "app:latest",
        ]);
        let other = TestEnv::new();
        let said = other.ok(&["load", "-i", s(&out)]);
        assert_eq!(
            said,
            "Loaded image: docker.io/library/app:1, docker.io/library/app:latest\nLoaded image: docker.io/library/base:1\n",
            "{format}"
        );
        for (name, want) in [("app:1", &app), ("base:1", &base)] {
            let got = other.inspect(name);
            assert_eq!(got["Id"], want["Id"], "{format} {name}");
            assert_eq!(got["RootFS"], want["RootFS"], "{format} {name}");
            assert_eq!(got["Config"], want["Config"], "{format} {name}");
            if format != "docker-archive" {
                assert_eq!(got["Digest"], want["Digest"], "{format} {name}");
            }
        }
        // Loading twice changes nothing; archives load from standard input too.
        if format == "oci-dir" {
            other.ok(&["load", "-i", s(&out)]);
        } else {
            let o = other.run_stdin(&["load", "-i", "-"], &std::fs::read(&out).expect("read"));
            assert!(o.status.success(), "{}", support::show(&o));
            assert_eq!(String::from_utf8_lossy(&o.stdout), said);
        }
        assert_eq!(names(&other).len(), 3);
        let rootfs = other.export("app:1", "rootfs");
        assert_eq!(
            std::fs::read_to_string(rootfs.join("f.txt")).expect("f"),
            "f\n"
        );
        assert!(rootfs.join("bin/busybox").is_file());
    }
    // Saving into a non-empty directory is refused, and says what to do.
    let out = env.run(&[
        "save",
        "--format",
        "oci-dir",
        "-o",
        s(&env.path().join("saved-oci-dir")),
        "app:1",
    ]);
    assert_fails(
        &out,
        3,
        &["is not empty", "choose a new or empty directory"],
    );
}

#[test]
fn export_to_a_directory_and_a_tarball() {
    let env = TestEnv::new();
    env.import_busybox("base:1");
    let ctx = env.context(
        "ctx",
        &[
            ("f.txt", "f\n"),
            (
                "Dockerfile",
                "FROM base:1\nCOPY --chown=1000:50 --chmod=0600 f.txt /home/app/f.txt\n",
            ),
        ],
    );
    env.ok(&["build", "-q", "-t", "app:1", s(&ctx)]);
    let dir = env.export("app:1", "dir");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dir.join("home/app/f.txt")).expect("stat");
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o600, 1000, 50));
    assert_eq!(
        std::fs::read_link(dir.join("bin/sh")).expect("link"),
        std::path::Path::new("busybox")
    );
    let tar = env.path().join("app.tar");
    env.ok(&["export", "app:1", "-o", s(&tar)]);
    let listing = support::tar_listing(&tar);
    let line = listing
        .lines()
        .find(|l| l.ends_with(" home/app/f.txt"))
        .unwrap_or_else(|| panic!("{listing}"));
    let f: Vec<&str> = line.split_whitespace().take(3).collect();
    assert_eq!(f, ["-rw-------", "1000/50", "2"]);
    // The tarball imports back (from standard input, gzip-compressed) to the same files.
    let gz = support::run_ok_bytes(
        std::process::Command::new("gzip").arg("-c"),
        &std::fs::read(&tar).expect("read"),
    );
    let o = env.run_stdin(&["import", "-", "again:1"], &gz);
    assert!(o.status.success(), "{}", support::show(&o));
    let id = String::from_utf8_lossy(&o.stdout).into_owned();
    let again = env.export("again:1", "again");
    assert_eq!(
        std::fs::read_to_string(again.join("home/app/f.txt")).expect("f"),
        "f\n"
    );
    assert!(id.starts_with("sha256:"));
}

/// A whiteout in the image (a file the Dockerfile deleted, or an opaque directory marker a
/// step planted) removes only what earlier layers wrote, never a file of the destination.
#[test]
fn export_into_a_directory_keeps_the_users_files() {
    let env = TestEnv::new();
    env.import_busybox("base:1");
    let ctx = env.context(
        "ctx",
        &[
            ("src/main.c", "int main;\n"),
            (
                "Dockerfile",
                "FROM base:1\nCOPY src /src\nRUN rm -rf /src && echo new > /new && mkdir /d && touch /d/.wh..wh..opq /.wh.notes.txt\n",
            ),
        ],
    );
    env.ok(&["build", "-q", "-t", "wh:1", s(&ctx)]);
    // Control: the image itself has no /src and no notes.txt.
    let fresh = env.export("wh:1", "fresh");
    assert!(!fresh.join("src").exists() && fresh.join("new").exists());
    for (how, dest) in [("export", "dest-export"), ("build -o", "dest-build")] {
        let dir = env.path().join(dest);
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        std::fs::create_dir_all(dir.join("d")).expect("mkdir");
        std::fs::write(dir.join("src/main.c"), "mine\n").expect("write");
        std::fs::write(dir.join("notes.txt"), "mine\n").expect("write");
        std::fs::write(dir.join("d/keep"), "mine\n").expect("write");
        std::fs::write(dir.join("new"), "old\n").expect("write");
        if how == "export" {
            env.ok(&["export", "wh:1", "-o", s(&dir)]);
        } else {
            let out = format!("type=local,dest={}", s(&dir));
            env.ok(&["build", "-q", "-o", &out, s(&ctx)]);
        }
        for kept in ["src/main.c", "notes.txt", "d/keep"] {
            assert_eq!(
                std::fs::read_to_string(dir.join(kept)).unwrap_or_default(),
                "mine\n",
                "{how}: {kept} of the destination was changed"
            );
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("new")).expect("new"),
            "new\n"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".kiln-export-"))
            .collect();
        assert!(leftovers.is_empty(), "{how}: staging directory left behind");
    }
}

#[test]
fn build_refusals_say_what_where_and_what_to_do() {
    let env = TestEnv::new();
    env.import_busybox("base:1");
    let ctx = env.context(
        "ctx",
        &[
            ("a", "a"),
            (
                "Dockerfile",
                "FROM base:1 AS one\nCOPY a /\n\nFROM one\nRUN --device=/dev/fuse echo hi\n",
            ),
        ],
    );
    let out = env.run(&["build", s(&ctx)]);
    assert_fails(
        &out,
        1,
        &[
            "error: RUN --device is not supported yet",
            "Dockerfile:5:14",
            "RUN --device=/dev/fuse echo hi",
            "hint: remove the flag",
        ],
    );
    // The stages before it build.
    env.ok(&["build", "-q", "--target", "one", "-t", "one:1", s(&ctx)]);
    assert_eq!(names(&env).len(), 2);

    // A base image neither in the store nor at its registry (nothing listens on port 1).
    std::fs::write(ctx.join("Dockerfile"), "FROM 127.0.0.1:1/missing:1\n").expect("write");
    let out = env.run(&["build", s(&ctx)]);
    // An unreachable registry exits 5 (1 before exit codes were split by kind).
    assert_fails(
        &out,
        5,
        &[
            "cannot pull base image 127.0.0.1:1/missing:1",
            "127.0.0.1:1",
            "Dockerfile:1:6",
            "kiln import",
        ],
    );
    std::fs::write(ctx.join("Dockerfile"), "FROM base:1\n").expect("write");
    let out = env.run(&["build", "--platform", "linux/s390x", s(&ctx)]);
    // A platform this machine cannot build for is a command-line mistake: exit 2 (1 before
    // the exit code came from the error's kind).
    assert_fails(
        &out,
        2,
        &[
            "cannot build for linux/s390x",
            "hint: kiln builds for the host's platform only",
        ],
    );

    // Flags whose feature comes later: refused with what to do, nothing built.
    for (flags, phrases) in [
        (
            vec!["--add-host", "db:10.0.0.1"],
            vec!["--add-host not supported yet", "for RUN"],
        ),
        (
            vec!["--build-context", "x=dir"],
            vec!["--build-context not supported yet"],
        ),
        (
            vec!["--add-host", "a:1.2.3.4"],
            vec!["--add-host not supported yet"],
        ),
        (vec!["--sbom=true"], vec!["--sbom not supported yet"]),
        (
            vec!["--provenance=mode=max"],
            vec!["--provenance not supported yet"],
        ),
    ] {
        let mut args = vec!["build", "-t", "refused:1"];
        args.extend(flags.iter().copied());
        args.push(s(&ctx));
        let out = env.run(&args);
        let mut want = vec!["refused rather than ignored", "hint:"];
        want.extend(phrases);
        assert_fails(&out, 2, &want);
    }
    // Build caches of other types than registry: refused, naming the supported one.
    for (flag, spec) in [
        ("--cache-from", "type=local,src=x"),
        ("--cache-to", "type=local,dest=x"),
        ("--cache-to", "type=inline"),
    ] {
        let out = env.run(&["build", "-t", "refused:1", flag, spec, s(&ctx)]);
        assert_fails(
            &out,
            2,
            &[flag, "is not supported; kiln supports type=registry"],
        );
    }
    // Turning an attestation off asks for nothing.
    env.ok(&["build", "-q", "--provenance=false", "--sbom=false", s(&ctx)]);
    assert!(!names(&env).iter().any(|n| n.contains("refused")));

    // Bad --output values.
    for (spec, phrase) in [
        (
            "type=tarball,dest=x",
            "unsupported --output type \"tarball\": use oci, oci-archive, docker-archive, local or registry",
        ),
        ("type=oci", "--output \"type=oci\" needs dest=PATH"),
        (
            "type=oci,dest=x,compression=zstd",
            "unknown --output key \"compression\"",
        ),
    ] {
        let out = env.run(&["build", "-o", spec, s(&ctx)]);
        assert_fails(&out, 2, &[phrase]);
    }
    // An output that cannot be written.
    let blocker = env.path().join("blocker");
    std::fs::write(&blocker, "file").expect("write");
    let dest = blocker.join("out.tar");
    let out = env.run(&[
        "build",
        "-o",
        &format!("type=oci-archive,dest={}", s(&dest)),
        s(&ctx),
    ]);
    assert_fails(&out, 3, &["cannot write", s(&dest)]);
}
