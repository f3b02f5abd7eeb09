//! A first end-to-end build: a busybox base, COPY, metadata, and what the image holds.

mod support;

use support::TestEnv;

#[test]
fn copy_and_metadata_end_up_in_the_image() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx",
        &[
            ("hello.txt", "hello\n"),
            ("Dockerfile", "FROM busybox:test\nENV A=1\nWORKDIR /app\nCOPY hello.txt .\nCMD [\"cat\", \"/app/hello.txt\"]\n"),
        ],
    );
    env.ok(&["build", "-q", "-t", "smoke:1", ctx.to_str().expect("utf-8")]);
    let out = env.path().join("rootfs");
    env.ok(&["export", "smoke:1", "-o", out.to_str().expect("utf-8")]);
    assert_eq!(
        std::fs::read_to_string(out.join("app/hello.txt")).expect("read"),
        "hello\n"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "smoke:1"])).expect("json");
    // BuildKit gives every stage a PATH when its base has none; ENV comes after it.
    assert_eq!(
        inspect[0]["Config"]["Env"][0],
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    assert_eq!(inspect[0]["Config"]["Env"][1], "A=1");
    assert_eq!(inspect[0]["Config"]["WorkingDir"], "/app");
    assert_eq!(inspect[0]["Config"]["Cmd"][1], "/app/hello.txt");
}

/// WORKDIR is recorded as BuildKit records it: an absolute path as written, a relative
/// one joined and cleaned; a scratch stage's working directory is `/`. Checked against
/// Docker 20.10's BuildKit by hand: "/code/", "/code/sub", and "/" for scratch.
#[test]
fn workdir_is_recorded_as_written_and_scratch_gets_the_root() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox:test\nWORKDIR /code/\nRUN pwd > /pwd\n",
        )],
    );
    env.ok(&["build", "-q", "-t", "wd:1", ctx.to_str().expect("utf-8")]);
    assert_eq!(env.inspect("wd:1")["Config"]["WorkingDir"], "/code/");
    let root = env.export("wd:1", "root");
    assert_eq!(
        std::fs::read_to_string(root.join("pwd")).expect("pwd"),
        "/code\n"
    );
    let history = env.ok(&["history", "wd:1"]);
    assert!(history.contains("WORKDIR /code/"), "{history}");

    let ctx = env.context(
        "ctx2",
        &[("Dockerfile", "FROM wd:1\nWORKDIR sub/../sub2/\n")],
    );
    env.ok(&["build", "-q", "-t", "wd:2", ctx.to_str().expect("utf-8")]);
    assert_eq!(env.inspect("wd:2")["Config"]["WorkingDir"], "/code/sub2");

    let ctx = env.context("ctx3", &[("Dockerfile", "FROM scratch\nENV A=1\n")]);
    env.ok(&["build", "-q", "-t", "wd:3", ctx.to_str().expect("utf-8")]);
    assert_eq!(env.inspect("wd:3")["Config"]["WorkingDir"], "/");
    // Control: a base without a working directory keeps none.
    let ctx = env.context("ctx4", &[("Dockerfile", "FROM busybox:test\nENV A=1\n")]);
    env.ok(&["build", "-q", "-t", "wd:4", ctx.to_str().expect("utf-8")]);
    let none = &env.inspect("wd:4")["Config"]["WorkingDir"];
    assert_eq!(none.as_str().unwrap_or_default(), "", "{none}");
}

/// A build arg that only a global ARG uses (in a FROM line) is used; one that nothing
/// declares is reported.
#[test]
fn a_build_arg_used_only_by_a_from_line_is_not_reported_unused() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx",
        &[("Dockerfile", "ARG BASE=nothing:0\nFROM $BASE\nRUN true\n")],
    );
    let out = env.run(&[
        "build",
        "--build-arg",
        "BASE=busybox:test",
        "--build-arg",
        "NOBODY=1",
        ctx.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", support::show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warning = stderr
        .lines()
        .find(|l| l.contains("not used by any ARG"))
        .unwrap_or_default();
    assert_eq!(
        warning, "warning: build args not used by any ARG: NOBODY",
        "{stderr}"
    );
}

/// `--progress plain` says where each step's time went, on its DONE line and in the
/// summary: a RUN that sleeps 0.4 s spends at least that running.
#[test]
fn plain_progress_says_where_each_steps_time_went() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context(
        "ctx-phases",
        &[
            ("f.txt", "f\n"),
            (
                "Dockerfile",
                "FROM busybox:test\nCOPY f.txt /f.txt\nRUN sleep 0.4\n",
            ),
        ],
    );
    let out = env.run(&[
        "build",
        "--progress",
        "plain",
        "--no-cache",
        ctx.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", support::show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run_seconds = |line: &str| -> f64 {
        let at = line
            .find(" run ")
            .unwrap_or_else(|| panic!("no run phase: {line}"));
        let rest = &line[at + 5..];
        rest[..rest.find('s').expect("seconds")]
            .parse()
            .expect("a number")
    };
    let done: Vec<&str> = stderr.lines().filter(|l| l.contains(" DONE ")).collect();
    let copy = done
        .iter()
        .find(|l| l.starts_with("#2 "))
        .expect("COPY's DONE");
    assert!(
        copy.contains("(prepare ") && copy.contains(", commit "),
        "{copy}"
    );
    let run = done
        .iter()
        .find(|l| l.starts_with("#3 "))
        .expect("RUN's DONE");
    assert!(
        run.contains("(prepare ") && run.contains(", commit "),
        "{run}"
    );
    assert!(run_seconds(run) >= 0.4, "{run}");
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("  ") && l.contains("#3 [stage-0 3/3] RUN sleep 0.4"))
        .expect("RUN in the summary");
    assert!(run_seconds(summary) >= 0.4, "{summary}");
}

/// WORKDIR writes only the directories that are missing, where the path leads inside the
/// root (through a symlink), owned by the USER looked up in the image's /etc/passwd; an
/// existing directory gives no layer. Overlay (a read-only view of the layers) and vfs (the
/// stage's unpacked root) give the same layer.
#[test]
fn workdir_creates_only_missing_directories_through_links_as_the_user() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test\n\
        RUN mkdir -p /real && ln -s /real /link && echo 'builder:x:1234:2345::/:/bin/sh' >> /etc/passwd && echo 'builder:x:2345:' >> /etc/group\n\
        USER builder\n\
        WORKDIR /link/sub/dir\n\
        WORKDIR /etc\n\
        USER root\n\
        RUN stat -c '%u:%g %a' /real/sub /real/sub/dir > /owners\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let mut digests = Vec::new();
    for driver in ["overlay", "vfs"] {
        let tag = format!("wd-{driver}:1");
        env.ok(&[
            "build",
            "-q",
            "--no-cache",
            // The parent entry (/real, made by the RUN) carries its time: the same in
            // both builds only under an epoch.
            "--source-date-epoch",
            "1700000000",
            "--storage-driver",
            driver,
            "-t",
            &tag,
            ctx.to_str().expect("utf-8"),
        ]);
        let root = env.export(&tag, &format!("root-{driver}"));
        assert_eq!(
            std::fs::read_to_string(root.join("owners")).expect("owners"),
            "1234:2345 755\n1234:2345 755\n",
            "{driver}"
        );
        let link = std::fs::symlink_metadata(root.join("link")).expect("link");
        assert!(
            link.file_type().is_symlink(),
            "{driver}: /link stays a link"
        );
        let inspect = env.inspect(&tag);
        let layers = inspect["Layers"].as_array().expect("layers").clone();
        // busybox, RUN, WORKDIR /link/sub/dir, RUN: WORKDIR /etc made none.
        assert_eq!(layers.len(), 4, "{driver}: {inspect}");
        let digest = layers[2]["Digest"].as_str().expect("digest").to_string();
        let blob = env
            .store()
            .join("blobs/sha256")
            .join(&digest["sha256:".len()..]);
        let listing = support::tar_listing(&blob);
        let names: Vec<&str> = listing
            .lines()
            .filter_map(|l| l.split_whitespace().last())
            .collect();
        assert_eq!(
            names,
            ["real/", "real/sub/", "real/sub/dir/"],
            "{driver}: {listing}"
        );
        assert!(listing.contains("1234/2345"), "{driver}: {listing}");
        digests.push(digest);
    }
    assert_eq!(
        digests[0], digests[1],
        "both drivers give the same WORKDIR layer"
    );
}
