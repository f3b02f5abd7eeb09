//! `kiln lint` as a user runs it: exit codes, formats, configuration, inline ignores.

use std::io::Write;
use std::process::{Command, Stdio};

fn kiln(args: &[&str], stdin: &str, dir: &std::path::Path) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kiln");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-lint-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn exit_codes_follow_the_fail_level() {
    let d = tempdir("levels");
    let df = "FROM alpine:3.19\nRUN addgroup -S app\nRUN adduser -S app\n"; // KL050 info only
    assert_eq!(
        kiln(&["lint", "-"], df, &d).0,
        1,
        "default fail level is info"
    );
    assert_eq!(kiln(&["lint", "--fail-level", "warning", "-"], df, &d).0, 0);
    let (code, out, _) = kiln(
        &["lint", "--fail-level", "error", "-"],
        "FROM alpine:3.19\nMAINTAINER x\n",
        &d,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning[KL084]"), "{out}");
    let (code, out, _) = kiln(&["lint", "--fail-level", "error", "-"], "FORM alpine\n", &d);
    assert_eq!(code, 1);
    assert!(
        out.contains("error[KL000]") && out.contains("did you mean FROM?"),
        "{out}"
    );
    let (code, _, err) = kiln(&["lint", "--fail-level", "loud", "-"], "", &d);
    assert_eq!(code, 2, "{err}");
    assert_eq!(kiln(&["lint", "missing.Dockerfile"], "", &d).0, 3);
}

#[test]
fn formats_config_and_inline_ignores() {
    let d = tempdir("config");
    std::fs::write(
        d.join(".kiln.toml"),
        "[lint]\ndisable = [\"apt-no-install-recommends\"]\n[lint.severity]\nKL003 = \"error\"\n",
    )
    .expect("config");
    let df = "FROM debian:12\n# kiln-ignore=KL001\nRUN apt-get update && apt-get install -y curl\n";
    std::fs::write(d.join("Dockerfile"), df).expect("dockerfile");
    let (code, out, err) = kiln(&["lint", "--format", "json"], "", &d);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let rules: Vec<&str> = v["files"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().unwrap_or(""))
        .collect();
    assert!(rules.contains(&"KL003"), "{rules:?}");
    assert!(
        !rules.contains(&"KL001") && !rules.contains(&"KL002"),
        "{rules:?}"
    );
    assert_eq!(v["summary"]["error"], 1);
    let (_, out, _) = kiln(&["lint", "--format", "sarif"], "", &d);
    let s: serde_json::Value = serde_json::from_str(&out).expect("sarif json");
    assert_eq!(s["version"], "2.1.0");
    let (_, out, _) = kiln(&["lint"], "", &d);
    assert!(
        out.contains("error[KL003]: apt package `curl` has no pinned version"),
        "{out}"
    );
    assert!(out.contains(" --> Dockerfile:3:42"), "{out}");
    std::fs::write(d.join(".kiln.toml"), "[lint]\ndisable = [\"nope\"]\n").expect("config");
    let (code, _, err) = kiln(&["lint"], "", &d);
    assert_eq!(code, 2);
    assert!(err.contains("unknown lint rule"), "{err}");
}

#[test]
fn dockerignore_next_to_the_dockerfile_is_used() {
    let d = tempdir("ignore");
    std::fs::write(d.join(".dockerignore"), "secrets/\n").expect("ignore");
    std::fs::write(
        d.join("Dockerfile"),
        "FROM alpine:3.19\nCOPY secrets/key /key\n",
    )
    .expect("df");
    let (_, out, _) = kiln(&["lint"], "", &d);
    assert!(out.contains("KL111"), "{out}");
    let (_, out, _) = kiln(&["lint", "--no-context"], "", &d);
    assert!(!out.contains("KL111"), "{out}");
}
