//! `kiln build --check` lints without building; a normal build shows lint warnings first
//! and still builds.

mod support;

use support::TestEnv;

const DOCKERFILE: &str = "FROM busybox:test\nMAINTAINER me\nCOPY a.txt /a.txt\n";

#[test]
fn check_lints_and_builds_nothing() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context("ctx", &[("Dockerfile", DOCKERFILE), ("a.txt", "a\n")]);
    let out = env.run(&[
        "build",
        "--check",
        "-t",
        "checked:1",
        ctx.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a warning fails --check at the default level"
    );
    assert!(
        stdout.contains("warning[KL084]: MAINTAINER is deprecated"),
        "{stdout}"
    );
    assert!(stdout.contains("Dockerfile:2:1"), "{stdout}");
    let images = env.ok(&["images"]);
    assert!(
        !images.contains("checked"),
        "--check must not build: {images}"
    );
}

#[test]
fn a_build_shows_lint_warnings_and_still_builds() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let ctx = env.context("ctx", &[("Dockerfile", DOCKERFILE), ("a.txt", "a\n")]);
    let out = env.run(&["build", "-t", "warned:1", ctx.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning[KL084]"), "{stderr}");
    assert!(env.ok(&["images"]).contains("docker.io/library/warned:1"));
    let quiet = env.run(&[
        "build",
        "-q",
        "-t",
        "warned:2",
        ctx.to_str().expect("utf-8"),
    ]);
    assert!(quiet.stderr.is_empty(), "-q prints no warnings");
}

/// A build shows the findings of the stages its target needs, says how many others it
/// leaves out, and `--no-lint` shows none. Control: building the other stage shows its
/// finding.
#[test]
fn a_build_lints_only_what_its_target_needs() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test AS unused\nMAINTAINER someone\n\
                      FROM busybox:test AS app\nCOPY a.txt /a.txt\nMAINTAINER me\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile), ("a.txt", "a\n")]);
    let ctx = ctx.to_str().expect("utf-8");
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "--progress", "plain"];
        args.extend_from_slice(extra);
        args.push(ctx);
        let out = env.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let app = build(&["--target", "app"]);
    assert!(app.contains("Dockerfile:5:1"), "{app}");
    assert!(!app.contains("Dockerfile:2:1"), "{app}");
    assert!(
        app.contains("1 lint finding(s) in stages this build does not use are not shown"),
        "{app}"
    );
    let unused = build(&["--target", "unused"]);
    assert!(unused.contains("Dockerfile:2:1"), "{unused}");
    assert!(!unused.contains("Dockerfile:5:1"), "{unused}");
    let silent = build(&["--target", "app", "--no-lint"]);
    assert!(
        !silent.contains("KL084") && !silent.contains("lint"),
        "{silent}"
    );
}

/// In a stage whose files reach the image only through `COPY --from`, a build leaves out
/// the findings about the image's content (a pip cache left behind), keeps the others
/// (an unpinned package) and says how many it left out. Control: the same finding in the
/// final stage is shown, and `kiln lint` shows both.
#[test]
fn a_build_leaves_out_image_size_findings_of_builder_stages() {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    let dockerfile = "FROM busybox:test AS builder\n\
                      RUN pip install flask || true\n\
                      RUN echo built > /built\n\
                      FROM busybox:test\n\
                      RUN pip install requests || true\n\
                      COPY --from=builder /built /built\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let out = env.run(&["build", "--progress", "plain", ctx.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Dockerfile:2:17"),
        "builder's unpinned package: {stderr}"
    );
    assert!(
        !stderr.contains("Dockerfile:2:5"),
        "builder's pip cache: {stderr}"
    );
    assert!(
        stderr.contains("Dockerfile:5:5"),
        "final stage's pip cache: {stderr}"
    );
    assert!(
        stderr.contains("1 lint finding(s) about what the image carries (KL040) in stages the image only copies files from are not shown"),
        "{stderr}"
    );
    let lint = env.run(&["lint", ctx.join("Dockerfile").to_str().expect("utf-8")]);
    let all = String::from_utf8_lossy(&lint.stdout);
    assert!(
        all.contains("Dockerfile:2:5") && all.contains("Dockerfile:5:5"),
        "{all}"
    );
}
