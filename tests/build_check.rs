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
