//! Golden tests of the Dockerfile front end: run the real `kiln` binary on every case
//! directory under `tests/golden/` and compare with the `expected` file there.
//!
//! | directory | command | `expected` holds |
//! |---|---|---|
//! | `parse/<case>/` | `kiln parse --format human [args] Dockerfile` | stdout, then `--- stderr` and stderr if any; exit 0 |
//! | `errors/<case>/` | `kiln parse --format human [args] Dockerfile` | stderr, then `exit: N`; stdout empty, N != 0 |
//! | `dump/<case>/` | `kiln parse --format buildkit-dump [args] Dockerfile` | stdout, then `--- stderr` and stderr if any; exit 0 |
//!
//! A case is a directory holding `Dockerfile`, `expected` and optionally `args` (one
//! command-line argument a line, empty lines skipped). The binary runs in the case
//! directory with an empty environment and no standard input.
//!
//! `KILN_UPDATE_GOLDEN=1 cargo test --test golden` rewrites every `expected` from the
//! current output; review the diff before committing it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CATEGORIES: [(&str, &str); 3] = [
    ("parse", "human"),
    ("errors", "human"),
    ("dump", "buildkit-dump"),
];

#[test]
fn golden() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden");
    let update = std::env::var_os("KILN_UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut count = 0;
    for (category, format) in CATEGORIES {
        for dir in case_dirs(&root.join(category)) {
            count += 1;
            let name = format!("{category}/{}", file_name(&dir));
            let actual = match run_case(&dir, category, format) {
                Ok(out) => out,
                Err(problem) => {
                    failures.push(format!("{name}: {problem}"));
                    continue;
                }
            };
            let expected_path = dir.join("expected");
            if update {
                fs::write(&expected_path, &actual)
                    .unwrap_or_else(|e| panic!("cannot write {}: {e}", expected_path.display()));
                continue;
            }
            match fs::read(&expected_path) {
                Ok(bytes) => {
                    let expected = String::from_utf8_lossy(&bytes);
                    if expected != actual {
                        failures.push(format!(
                            "{name}: output differs\n{}",
                            diff(&expected, &actual)
                        ));
                    }
                }
                Err(e) => failures.push(format!(
                    "{name}: cannot read expected ({e}); run with KILN_UPDATE_GOLDEN=1 to create it"
                )),
            }
        }
    }
    assert!(count > 0, "no golden cases found under {}", root.display());
    assert!(
        failures.is_empty(),
        "{} of {count} golden cases failed (KILN_UPDATE_GOLDEN=1 rewrites expectations):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The case directories of one category, sorted by name.
fn case_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .map(|e| e.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Run one case and render its outcome the way `expected` holds it.
fn run_case(dir: &Path, category: &str, format: &str) -> Result<String, String> {
    if !dir.join("Dockerfile").is_file() {
        return Err("no Dockerfile in the case directory".into());
    }
    let args = match fs::read_to_string(dir.join("args")) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        Err(_) => Vec::new(),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(dir)
        .env_clear()
        .stdin(Stdio::null())
        .args(["parse", "--format", format])
        .args(&args)
        .arg("Dockerfile")
        .output()
        .map_err(|e| format!("cannot run kiln: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    if category == "errors" {
        if code == 0 || !stdout.is_empty() {
            return Err(format!(
                "expected a failure, got exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
            ));
        }
        return Ok(format!("{stderr}exit: {code}\n"));
    }
    if code != 0 {
        return Err(format!("exit {code}, expected 0\nstderr:\n{stderr}"));
    }
    if stderr.is_empty() {
        Ok(stdout.into_owned())
    } else {
        Ok(format!("{stdout}--- stderr\n{stderr}"))
    }
}

/// A line diff: `  ` common, `- ` only expected, `+ ` only actual (longest common
/// subsequence; the files are small). Carriage returns show as `\r`.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let show = |mark: &str, line: &str| {
        let text = line.strip_suffix('\n').unwrap_or(line).replace('\r', "\\r");
        let eol = if line.ends_with('\n') {
            ""
        } else {
            " (no newline at end)"
        };
        format!("{mark}{text}{eol}\n")
    };
    let mut out = String::from("--- expected\n+++ actual\n");
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&show("  ", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&show("- ", a[i]));
            i += 1;
        } else {
            out.push_str(&show("+ ", b[j]));
            j += 1;
        }
    }
    out
}
