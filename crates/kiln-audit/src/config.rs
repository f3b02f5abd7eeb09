//! Checks of the image config (user, healthcheck, ports, secrets in ENV, LABELs and
//! history) and of the final account files (password hashes, empty passwords, duplicate
//! uids).

use crate::checks::{self, Check};
use crate::secrets;
use serde_json::Value;

/// A finding of the config, before it becomes a [`crate::Finding`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub check: &'static Check,
    pub message: String,
    /// The history entry (its `created_by`) it came from, if one.
    pub step: Option<String>,
    /// That entry's index in the config's history (for its Dockerfile line).
    pub history: Option<usize>,
}

fn hit(check: &'static Check, message: String) -> Hit {
    Hit {
        check,
        message,
        step: None,
        history: None,
    }
}

/// How a history entry of `instruction` is matched to a config finding: by one of its
/// words (`KEY=...` for ENV and LABEL, `22/tcp` for EXPOSE), or any entry (USER: the last
/// one set the user).
enum Word<'a> {
    Key(&'a str),
    Exact(&'a [&'a str]),
    Any,
}

/// `hit` with the last history entry of `instruction` that `word` matches (the step that
/// set what was found); none when no entry matches exactly.
fn set_by(v: &Value, mut h: Hit, instruction: &str, word: Word<'_>) -> Hit {
    let matches = |by: &str| {
        let Some(rest) = by.strip_prefix(instruction) else {
            return false;
        };
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return false;
        }
        let mut words = rest.split_whitespace();
        match &word {
            Word::Any => true,
            Word::Key(k) => words.any(|w| {
                w.trim_start_matches('"')
                    .split_once('=')
                    .is_some_and(|(key, _)| key.trim_end_matches('"') == *k)
            }),
            Word::Exact(options) => words.any(|w| options.contains(&w)),
        }
    };
    let found = v["history"].as_array().and_then(|hist| {
        hist.iter()
            .rposition(|e| e["created_by"].as_str().is_some_and(matches))
    });
    if let Some(i) = found {
        h.history = Some(i);
        h.step = v["history"][i]["created_by"]
            .as_str()
            .map(crate::shown_step);
    }
    h
}

/// Checks of the config JSON (`config` and `history` of an OCI or Docker image config).
pub fn config(v: &Value) -> Vec<Hit> {
    let mut out = Vec::new();
    let c = &v["config"];
    let user = c["User"].as_str().unwrap_or("");
    let name = user.split(':').next().unwrap_or("");
    if name.is_empty() || name == "root" || name == "0" {
        let shown = if user.is_empty() { "no USER" } else { user };
        let h = hit(
            &checks::ROOT_USER,
            format!("the image runs as root ({shown})"),
        );
        out.push(set_by(v, h, "USER", Word::Any));
    }
    if no_healthcheck(c) {
        out.push(hit(
            &checks::NO_HEALTHCHECK,
            "the image has no HEALTHCHECK".into(),
        ));
    }
    if let Some(ports) = c["ExposedPorts"].as_object() {
        if ports.keys().any(|p| p == "22" || p == "22/tcp") {
            let h = hit(
                &checks::EXPOSES_SSH,
                "the image exposes port 22 (ssh)".into(),
            );
            out.push(set_by(v, h, "EXPOSE", Word::Exact(&["22", "22/tcp"])));
        }
    }
    let env: Vec<&str> = c["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for e in env.iter().copied() {
        let (k, val) = e.split_once('=').unwrap_or((e, ""));
        if secrets::secret_name(k, val) || !secrets::find(val).is_empty() {
            let h = hit(
                &checks::SECRET_IN_ENV,
                format!(
                    "ENV {} holds a secret (its value is in the image config)",
                    name_of(k)
                ),
            );
            out.push(set_by(v, h, "ENV", Word::Key(k)));
        }
    }
    if let Some(labels) = c["Labels"].as_object() {
        for (k, val) in labels {
            let val = val.as_str().unwrap_or("");
            if secrets::secret_name(k, val) || !secrets::find(val).is_empty() {
                let h = hit(
                    &checks::SECRET_IN_LABEL,
                    format!("LABEL {} holds a secret", name_of(k)),
                );
                out.push(set_by(v, h, "LABEL", Word::Key(k)));
            }
        }
    }
    for (i, h) in v["history"].as_array().into_iter().flatten().enumerate() {
        let by = h["created_by"].as_str().unwrap_or("");
        // An ENV whose value is still in the config is reported once, as KA013.
        let in_config = by
            .strip_prefix("ENV ")
            .is_some_and(|rest| rest.split_whitespace().all(|pair| env.contains(&pair)));
        if in_config {
            continue;
        }
        if let Some(what) = history_secret(by) {
            out.push(Hit {
                check: &checks::SECRET_IN_HISTORY,
                message: format!("the history of a step records {what}"),
                step: Some(crate::shown_step(by)),
                history: Some(i),
            });
        }
    }
    out
}

/// A variable's or label's name as messages show it: only a plain name (letters, digits,
/// `_ . -`, at most 64); anything else could carry the secret itself.
fn name_of(k: &str) -> &str {
    let plain = !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if plain {
        k
    } else {
        "(a name that is not shown)"
    }
}

/// No healthcheck, or `HEALTHCHECK NONE`.
fn no_healthcheck(c: &Value) -> bool {
    match c["Healthcheck"]["Test"].as_array() {
        None => true,
        Some(t) => t.is_empty() || t[0].as_str() == Some("NONE"),
    }
}

/// A secret a history line records: a build arg given to a RUN (`|2 TOKEN=... sh -c`, as
/// builders record them) whose name says secret, or a value that looks like one.
fn history_secret(by: &str) -> Option<String> {
    for word in by.split_whitespace() {
        if let Some((k, val)) = word.split_once('=') {
            if secrets::secret_name(k, val.trim_matches(['"', '\''])) {
                return Some(format!("the value of {}", name_of(k)));
            }
        }
    }
    secrets::find(by).into_iter().next().map(|h| h.what)
}

/// Checks of the final `/etc/passwd` and `/etc/shadow`.
pub fn accounts(passwd: Option<&str>, shadow: Option<&str>) -> Vec<Hit> {
    let mut out = Vec::new();
    if let Some(passwd) = passwd {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 {
                continue;
            }
            if let Some((other, _)) = seen.iter().find(|(_, uid)| *uid == f[2]) {
                out.push(hit(
                    &checks::DUPLICATE_UID,
                    format!("users {other} and {} share uid {}", f[0], f[2]),
                ));
            }
            seen.push((f[0], f[2]));
        }
    }
    if let Some(shadow) = shadow {
        let (mut hashed, mut empty) = (Vec::new(), Vec::new());
        for line in shadow.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 2 {
                continue;
            }
            if f[1].starts_with('$') {
                hashed.push(f[0]);
            } else if f[1].is_empty() {
                empty.push(f[0]);
            }
        }
        if !hashed.is_empty() {
            out.push(hit(
                &checks::PASSWORD_HASH,
                format!(
                    "/etc/shadow holds password hashes for {}",
                    hashed.join(", ")
                ),
            ));
        }
        if !empty.is_empty() {
            out.push(hit(
                &checks::EMPTY_PASSWORD,
                format!("/etc/shadow gives {} an empty password", empty.join(", ")),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.check.id).collect()
    }

    #[test]
    fn config_checks() {
        let v = json!({"config": {"User": "app", "Healthcheck": {"Test": ["CMD", "true"]}}});
        assert!(config(&v).is_empty(), "{:?}", config(&v));
        let v = json!({
            "config": {"Env": ["PATH=/bin", "DB_PASSWORD=s3cr3t!"], "ExposedPorts": {"22/tcp": {}},
                       "Labels": {"token": "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"}},
            "history": [{"created_by": "ENV DB_PASSWORD=s3cr3t!"},
                        {"created_by": "RUN |1 API_TOKEN=abc123 /bin/sh -c make"}]
        });
        assert_eq!(
            ids(&config(&v)),
            ["KA001", "KA040", "KA041", "KA013", "KA014", "KA015"]
        );
        let h = config(&v).pop().expect("history hit");
        assert!(!h.message.contains("abc123"), "{}", h.message);
    }

    #[test]
    fn config_findings_name_the_entry_that_set_the_value() {
        let v = json!({
            "config": {"Env": ["TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "NPM_TOKEN=x1"],
                       "ExposedPorts": {"22/tcp": {}, "8022/tcp": {}}, "User": ""},
            "history": [
                {"created_by": "ENV TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"},
                {"created_by": "EXPOSE 22/tcp"},
                {"created_by": "ENV NPM_TOKEN=x1"},
                {"created_by": "EXPOSE 8022/tcp"},
                {"created_by": "USER"}
            ]
        });
        let hits = config(&v);
        let at = |id: &str| {
            hits.iter()
                .find(|h| h.check.id == id)
                .and_then(|h| h.history)
        };
        assert_eq!(at("KA001"), Some(4), "USER with an empty value");
        assert_eq!(at("KA041"), Some(1), "22/tcp, not 8022/tcp");
        let env: Vec<Option<usize>> = hits
            .iter()
            .filter(|h| h.check.id == "KA013")
            .map(|h| h.history)
            .collect();
        assert_eq!(env, [Some(0), Some(2)], "each ENV its own entry: {hits:?}");
    }

    #[test]
    fn account_checks() {
        let passwd =
            "root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n";
        let shadow = "root:$6$salt$hash:1::::::\napp::1::::::\nnobody:*:1::::::\n";
        assert_eq!(
            ids(&accounts(Some(passwd), Some(shadow))),
            ["KA042", "KA020", "KA021"]
        );
        assert!(accounts(Some("root:x:0:0::/:/bin/sh\n"), Some("root:*:1::::::\n")).is_empty());
    }
}
