//! Image configs normalized and compared.

use super::*;

/// The config fields compared, as named in the docker/OCI config's `config` object.
pub(crate) const CONFIG_FIELDS: [&str; 12] = [
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
];

/// The compared part of an image config: `config` fields and the author, with null, empty
/// strings, lists and maps all meaning "not set".
pub(crate) fn normalize_config(
    config: &serde_json::Value,
    author: &serde_json::Value,
) -> BTreeMap<String, serde_json::Value> {
    let empty = |v: &serde_json::Value| match v {
        serde_json::Value::Null => true,
        serde_json::Value::String(s) => s.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        _ => false,
    };
    let mut out = BTreeMap::new();
    for f in CONFIG_FIELDS {
        let v = config.get(f).cloned().unwrap_or_default();
        out.insert(
            f.to_string(),
            if empty(&v) {
                serde_json::Value::Null
            } else {
                v
            },
        );
    }
    let a = if empty(author) {
        serde_json::Value::Null
    } else {
        author.clone()
    };
    out.insert("author".into(), a);
    out
}

pub(crate) fn diff_configs(
    kiln: &BTreeMap<String, serde_json::Value>,
    other: &BTreeMap<String, serde_json::Value>,
    other_name: &str,
) -> Vec<Diff> {
    let mut out = Vec::new();
    for (k, v) in kiln {
        let o = other.get(k).cloned().unwrap_or_default();
        if *v != o {
            out.push(Diff {
                key: format!("config.{k}"),
                detail: format!("config {k}: kiln {v}, {other_name} {o}"),
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The tools.
