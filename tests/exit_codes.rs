//! One real failure of each exit-code class (docs/exit-codes.md): 2 a bad command line,
//! 1 a rejected Dockerfile, 4 a failed RUN step, 3 a file or the store that cannot be
//! written, 5 an unreachable registry. (130/143 for SIGINT/SIGTERM: tests/step_control.rs;
//! 6, internal, has no honest trigger from outside: a unit test in crates/kiln/src/exit.rs.)
//! And every command-line mistake of `kiln build` exits 2 before any step runs, with a
//! hint whose example, put in its place, gets past the check.

mod support;

use std::path::Path;
use support::{assert_fails, s, show, TestEnv};

fn busybox_env() -> TestEnv {
    let env = TestEnv::new();
    env.import_busybox("busybox:test");
    env
}

/// `127.0.0.1:PORT` where nothing listens.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("127.0.0.1:{port}")
}

#[test]
fn an_unknown_flag_exits_2() {
    let env = TestEnv::new();
    let out = env.run(&["build", "--no-such-flag", "."]);
    assert_fails(&out, 2, &["--no-such-flag"]);
}

#[test]
fn a_rejected_dockerfile_exits_1() {
    let env = busybox_env();
    let ctx = env.context(
        "ctx",
        &[("Dockerfile", "FROM busybox:test\nFROBNICATE now\n")],
    );
    let out = env.run(&["build", "-q", s(&ctx)]);
    assert_fails(&out, 1, &["FROBNICATE", "Dockerfile:2"]);
}

#[test]
fn users_the_image_does_not_have_are_rejected_inputs_exit_1() {
    let env = busybox_env();
    // Control: a user the image has (busybox's /etc/passwd is root only) builds.
    let ok = env.context(
        "ok",
        &[("Dockerfile", "FROM busybox:test\nUSER root\nRUN true\n")],
    );
    env.ok(&["build", "-q", "--network", "none", s(&ok)]);
    // The user is looked up where it is used: RUN, COPY --chown, WORKDIR's new directory.
    let cases = [
        (
            "FROM busybox:test\nUSER ghost\nRUN true\n",
            "USER ghost: unable to find user ghost: no matching entries in passwd file",
            "Dockerfile:3",
            "USER 1000:1000",
        ),
        (
            "FROM busybox:test\nCOPY --chown=ghost f /f\n",
            "--chown: unable to find user ghost: no matching entries in passwd file",
            "Dockerfile:2",
            "--chown=1000:1000",
        ),
        (
            "FROM busybox:test\nUSER ghost\nWORKDIR /made\n",
            "USER ghost: unable to find user ghost: no matching entries in passwd file",
            "Dockerfile:3",
            "--chown=1000:1000",
        ),
    ];
    for (i, (dockerfile, message, at, hint)) in cases.into_iter().enumerate() {
        let ctx = env.context(
            &format!("c{i}"),
            &[("Dockerfile", dockerfile), ("f", "file\n")],
        );
        let out = env.run(&["build", "-q", "--network", "none", s(&ctx)]);
        assert_fails(&out, 1, &[message, at, hint]);
    }
}

#[test]
fn a_bad_exclude_pattern_is_a_rejected_input_exit_1() {
    let env = busybox_env();
    // Control: a usable pattern builds.
    let ok = env.context(
        "ok",
        &[
            (
                "Dockerfile",
                "FROM busybox:test\nCOPY --exclude=*.tmp . /app\n",
            ),
            ("f", "file\n"),
        ],
    );
    env.ok(&["build", "-q", s(&ok)]);
    let bad = env.context(
        "bad",
        &[
            (
                "Dockerfile",
                "FROM busybox:test\nCOPY --exclude=*.tmp --exclude=! . /app\n",
            ),
            ("f", "file\n"),
        ],
    );
    let out = env.run(&["build", "-q", s(&bad)]);
    assert_fails(
        &out,
        1,
        &[
            "--exclude: pattern 2: illegal exclusion pattern: \"!\"",
            "Dockerfile:2",
        ],
    );
}

#[test]
fn a_run_step_that_exits_non_zero_exits_4() {
    let env = busybox_env();
    let ctx = env.context("ctx", &[("Dockerfile", "FROM busybox:test\nRUN exit 3\n")]);
    let out = env.run(&["build", "-q", "--network", "none", s(&ctx)]);
    assert_fails(&out, 4, &["failed with exit code 3", "Dockerfile:2"]);
}

#[test]
fn an_output_or_a_store_that_cannot_be_written_exits_3() {
    let env = busybox_env();
    let ctx = env.context("ctx", &[("Dockerfile", "FROM busybox:test\n")]);
    let blocker = env.path().join("blocker");
    std::fs::write(&blocker, "a file, not a directory").expect("write");
    let dest = blocker.join("out.tar");
    let out = env.run(&[
        "build",
        "-q",
        "-o",
        &format!("type=oci-archive,dest={}", s(&dest)),
        s(&ctx),
    ]);
    assert_fails(&out, 3, &["cannot write", s(&dest)]);
    // A store root that is a file.
    let out = std::process::Command::new(support::kiln_bin())
        .args(["--root", s(&blocker), "images"])
        .env_remove("KILN_ROOT")
        .output()
        .expect("kiln");
    assert_fails(&out, 3, &["cannot open the store", s(&blocker), "--root"]);
}

#[test]
fn an_unreachable_registry_exits_5() {
    let env = TestEnv::new();
    let host = closed_port();
    let out = env.run(&["pull", &format!("{host}/nothing:1")]);
    assert_fails(&out, 5, &["cannot reach", &host]);
    let ctx = env.context(
        "ctx",
        &[("Dockerfile", &format!("FROM {host}/nothing:1\n"))],
    );
    let out = env.run(&["build", "-q", s(&ctx)]);
    assert_fails(&out, 5, &["cannot pull base image", &host, "Dockerfile:1"]);
}

/// An ssh-agent stand-in: a listening socket (never answered; no step uses it).
fn agent_socket(dir: &Path) -> (std::os::unix::net::UnixListener, String) {
    let path = dir.join("agent.sock");
    let l = std::os::unix::net::UnixListener::bind(&path).expect("bind socket");
    (l, s(&path).to_owned())
}

#[test]
fn command_line_mistakes_exit_2_before_any_step_runs_and_their_fix_gets_past() {
    let env = busybox_env();
    // Its only step fails (4): a flag checked too late would show as 4, not 2.
    let ctx = env.context("ctx", &[("Dockerfile", "FROM busybox:test\nRUN exit 3\n")]);
    let secret = env.path().join("token");
    std::fs::write(&secret, "t0ken").expect("secret");
    let (_agent, sock) = agent_socket(env.path());
    let free = closed_port();
    let missing = env.path().join("missing");
    let cases: Vec<(Vec<String>, Vec<&str>, Vec<String>)> = vec![
        (
            vec!["-t".into(), "Bad Name::x".into()],
            vec!["-t \"Bad Name::x\""],
            vec!["-t".into(), "bad-name:x".into()],
        ),
        (
            vec!["-o".into(), "type=tarball,dest=x".into()],
            vec!["use oci, oci-archive, docker-archive, local or registry"],
            vec!["-o".into(), format!("type=oci,dest={}", s(&missing))],
        ),
        (
            vec!["-o".into(), "type=registry,name=Bad Name".into()],
            vec!["name=REGISTRY/REPOSITORY[:TAG]"],
            vec!["-o".into(), format!("type=registry,name={free}/out:1")],
        ),
        (
            vec!["--cache-to".into(), "type=registry".into()],
            vec!["no ref; add ref=HOST/REPOSITORY:TAG"],
            vec![
                "--cache-to".into(),
                format!("type=registry,ref={free}/cache:1"),
            ],
        ),
        (
            vec!["--cache-from".into(), "type=local,src=x".into()],
            vec!["kiln supports type=registry"],
            vec![
                "--cache-from".into(),
                format!("type=registry,ref={free}/cache:1"),
            ],
        ),
        (
            vec!["--platform".into(), "linux/amd64/v1/x".into()],
            vec!["--platform", "e.g. linux/amd64"],
            vec!["--platform".into(), "linux/amd64".into()],
        ),
        (
            vec!["--secret".into(), format!("id=token,src={}", s(&missing))],
            vec![
                "--secret id=token",
                "cannot read",
                "give a readable file with src=",
            ],
            vec!["--secret".into(), format!("id=token,src={}", s(&secret))],
        ),
        (
            vec!["--ssh".into(), format!("default={}", s(&missing))],
            vec!["--ssh", "give the socket of a running ssh-agent"],
            vec!["--ssh".into(), format!("default={sock}")],
        ),
        (
            vec!["--runtime".into(), "no-such-runtime".into()],
            vec!["--runtime no-such-runtime", "not found in PATH"],
            vec![
                "--runtime".into(),
                s(&support::tool("runc", "runc")).to_owned(),
            ],
        ),
        (
            vec!["--network".into(), "bridge".into()],
            vec!["unknown network mode \"bridge\": use default, none or host"],
            vec!["--network".into(), "none".into()],
        ),
        (
            vec!["--timeout".into(), "0".into()],
            vec!["give a positive duration, e.g. 90s"],
            vec!["--timeout".into(), "90s".into()],
        ),
        (
            vec!["--timeout".into(), "soon".into()],
            vec!["--timeout"],
            vec!["--timeout".into(), "10m".into()],
        ),
    ];
    for (bad, phrases, fixed) in cases {
        let run = |flags: &[String]| {
            let mut args: Vec<&str> = vec!["build", "-q"];
            if !flags.iter().any(|f| f == "--network") {
                args.extend(["--network", "none"]);
            }
            args.extend(flags.iter().map(String::as_str));
            args.push(s(&ctx));
            env.run(&args)
        };
        let out = run(&bad);
        assert_fails(&out, 2, &phrases);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("exit code 3"),
            "{bad:?} ran a step: {stderr}"
        );
        // The fix from the hint gets past the check: the step runs and fails.
        let out = run(&fixed);
        assert_eq!(out.status.code(), Some(4), "{fixed:?}: {}", show(&out));
    }
}

/// With `--progress json` a failure is an event like the rest: every line on standard
/// error is JSON, the last one the error message, and the exit code is the same.
#[test]
fn a_failure_with_json_progress_is_a_json_event_and_keeps_its_code() {
    let env = busybox_env();
    let ctx = env.context("ctx", &[("Dockerfile", "FROM busybox:test\nRUN exit 3\n")]);
    for (flags, code) in [
        (vec!["--network", "none"], 4),
        (vec!["--network", "bridge"], 2),
    ] {
        let mut args = vec!["build", "--progress", "json"];
        args.extend(flags);
        args.push(s(&ctx));
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(code), "{}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let events: Vec<serde_json::Value> = stderr
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect();
        let last = events.last().expect("events");
        assert_eq!(last["event"], "message", "{stderr}");
        assert_eq!(last["level"], "error", "{stderr}");
        assert!(
            last["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("error: ")),
            "{stderr}"
        );
    }
}
