//! `--progress json` is the build's one output channel: a build that pulls its base image
//! from a registry, runs a step, exports an OCI layout and pushes writes only JSON lines on
//! standard error, among them the pull's, the push's and the steps' events.

mod support;

use support::registry::{kiln, seed_base, Registry, Setup};
use support::{s, show, TestEnv};

#[test]
fn json_progress_of_a_pull_build_export_and_push_is_json_lines_only() {
    let env = TestEnv::new();
    let reg = Registry::start(Setup::Plain);
    let h = reg.host.clone();
    seed_base(&env, &reg, "base/busybox:1", "oci");
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            &format!("FROM {h}/base/busybox:1\nRUN echo built > /built\n"),
        )],
    );
    let layout = env.path().join("layout");
    let app = format!("{h}/team/app:1");
    let out = kiln(&env, &reg, "a")
        .args([
            "build",
            "--progress",
            "json",
            "--network",
            "none",
            "-t",
            &app,
            "--push",
            "-o",
            &format!("type=oci,dest={}", s(&layout)),
            s(&ctx),
        ])
        .output()
        .expect("kiln");
    assert!(out.status.success(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect();
    let transfers = |transfer: &str, phase: &str| {
        events
            .iter()
            .filter(|e| {
                e["event"] == "transfer" && e["transfer"] == transfer && e["phase"] == phase
            })
            .count()
    };
    // The pull: begins, and every blob of the base (config and layer) starts and ends.
    assert_eq!(transfers("pull", "begin"), 1, "{stderr}");
    assert!(transfers("pull", "blob-start") >= 2, "{stderr}");
    assert_eq!(
        transfers("pull", "blob-start"),
        transfers("pull", "blob-done"),
        "{stderr}"
    );
    assert!(transfers("pull", "blob-progress") >= 1, "{stderr}");
    // The push: begins, and every blob ends (uploaded or already there).
    assert_eq!(transfers("push", "begin"), 1, "{stderr}");
    assert!(transfers("push", "blob-done") >= 3, "{stderr}");
    let pushed = events
        .iter()
        .find(|e| e["transfer"] == "push")
        .expect("a push event");
    assert_eq!(pushed["reference"], app.as_str());
    // The steps (FROM, RUN, and the export of the layout) report as before.
    let steps = |kind: &str| events.iter().filter(|e| e["event"] == kind).count();
    assert!(steps("start") >= 2, "{stderr}");
    assert!(steps("done") >= 2, "{stderr}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "log" && e["line"].as_str() == Some("built"))
            || events.iter().any(|e| e["event"] == "done"),
        "{stderr}"
    );
    // The outputs: the OCI layout, then the push, each begun and done.
    let outputs = |phase: &str| {
        events
            .iter()
            .filter(|e| e["event"] == "output" && e["phase"] == phase)
            .map(|e| e["output"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    let layout_output = format!("type=oci,dest={}", s(&layout));
    let push_output = format!("type=registry,name={app}");
    for phase in ["begin", "done"] {
        assert_eq!(
            outputs(phase),
            vec![layout_output.clone(), push_output.clone()],
            "{stderr}"
        );
    }
    // Where each step's time went: the FROM's pull is its transfer; the RUN prepared its
    // root, ran and committed, and those add up to no more than its duration; each output
    // says how long it took (the push: its transfer).
    let done = |name: &str| {
        events
            .iter()
            .find(|e| e["event"] == "done" && e["name"].as_str().is_some_and(|n| n.contains(name)))
            .unwrap_or_else(|| panic!("no done event for {name}: {stderr}"))
    };
    let from = done("FROM");
    assert!(from["phases_ms"]["transfer"].is_u64(), "{from}");
    let run = done("RUN echo built");
    let phases = run["phases_ms"].as_object().expect("RUN phases");
    let names: Vec<&str> = phases.keys().map(String::as_str).collect();
    assert_eq!(names, ["commit", "prepare", "run"], "{run}");
    let sum: u64 = phases.values().filter_map(|v| v.as_u64()).sum();
    assert!(
        sum <= run["duration_ms"].as_u64().expect("duration"),
        "{run}"
    );
    for e in events
        .iter()
        .filter(|e| e["event"] == "output" && e["phase"] == "done")
    {
        assert!(e["duration_ms"].is_u64(), "{e}");
    }
    // The export happened and standard output holds the result, not progress.
    assert!(layout.join("index.json").is_file(), "no OCI layout");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("Pushed {app}@sha256:")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("sha256:")),
        "{stdout}"
    );
}
