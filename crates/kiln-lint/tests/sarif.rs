//! `--format sarif` output validates against the SARIF 2.1.0 JSON schema
//! (`tests/data/sarif-schema-2.1.0.json`, draft-04) with the `jsonschema` crate.

use kiln_lint::output::{sarif, FileFindings};
use kiln_lint::{lint, Config, LintInput};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validator() -> jsonschema::Validator {
    let text =
        fs::read_to_string(root().join("tests/data/sarif-schema-2.1.0.json")).expect("schema file");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn errors(v: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    let v = validator();
    let cfg = Config::default();
    let mut texts = Vec::new();
    let corpus = root().join("tests/lint-corpus");
    let mut paths: Vec<PathBuf> = fs::read_dir(&corpus)
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.retain(|p| p.extension().is_some_and(|e| e == "Dockerfile"));
    paths.sort();
    // Also an invalid Dockerfile (KL000) and one with file-level findings.
    texts.push((
        "bad dir/Dockerfile".to_string(),
        "FROM a:1\nFORM b\n".to_string(),
    ));
    for p in &paths {
        texts.push((
            format!(
                "tests/lint-corpus/{}",
                p.file_name().and_then(|n| n.to_str()).unwrap_or("")
            ),
            fs::read_to_string(p).expect("read"),
        ));
    }
    let findings: Vec<_> = texts
        .iter()
        .map(|(_, t)| lint(&LintInput::new(t.as_bytes(), &cfg)))
        .collect();
    let files: Vec<FileFindings<'_>> = texts
        .iter()
        .zip(&findings)
        .map(|((name, text), f)| FileFindings {
            path: name,
            source: text,
            findings: f,
        })
        .collect();
    let doc = sarif(&files);
    let errs = errors(&v, &doc);
    assert!(
        errs.is_empty(),
        "SARIF output is not valid:\n{}",
        errs.join("\n")
    );
    let results = doc["runs"][0]["results"].as_array().map_or(0, Vec::len);
    assert!(results > 50, "only {results} results");
    // Every result's ruleIndex points at its rule.
    let rules = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for r in doc["runs"][0]["results"].as_array().into_iter().flatten() {
        let i = r["ruleIndex"].as_u64().unwrap_or(u64::MAX) as usize;
        assert_eq!(
            rules.get(i).map(|x| x["id"].clone()),
            Some(r["ruleId"].clone())
        );
    }
    // The empty log is valid too.
    assert!(errors(&v, &sarif(&[])).is_empty());
}

#[test]
fn the_schema_check_rejects_broken_logs() {
    let v = validator();
    let cfg = Config::default();
    let f = lint(&LintInput::new(b"FROM ubuntu\nMAINTAINER x\n", &cfg));
    let files = [FileFindings {
        path: "Dockerfile",
        source: "",
        findings: &f,
    }];
    let mut doc = sarif(&files);
    doc["version"] = serde_json::json!("2.0.0");
    assert!(!errors(&v, &doc).is_empty());
    let mut doc = sarif(&files);
    doc["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!errors(&v, &doc).is_empty());
    let mut doc = sarif(&files);
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        serde_json::json!(0);
    assert!(!errors(&v, &doc).is_empty());
}
