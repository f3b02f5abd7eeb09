//! `docker-credential-NAME get`: the registry on standard input, JSON
//! `{"Username":…,"Secret":…}` on standard output.

use super::{Credentials, Secret};
use crate::error::{RegistryError, Result};
use std::io::Write;
use std::process::{Command, Stdio};

/// Asks the helper for `registry`'s credentials; `None` when it has none.
pub fn get(name: &str, registry: &str) -> Result<Option<Credentials>> {
    let fail = |reason: String| RegistryError::Helper {
        helper: name.to_owned(),
        registry: registry.to_owned(),
        reason,
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(fail("the helper name is not a plain program name".into()));
    }
    // Docker stores Hub credentials under its v1 URL (see `run`).
    run(
        std::path::Path::new(&format!("docker-credential-{name}")),
        name,
        registry,
    )
}

/// Runs the helper program `program` (found through PATH when it has no `/`).
fn run(program: &std::path::Path, name: &str, registry: &str) -> Result<Option<Credentials>> {
    let fail = |reason: String| RegistryError::Helper {
        helper: name.to_owned(),
        registry: registry.to_owned(),
        reason,
    };
    let server = if registry == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot run it ({e}); install it or remove it from ~/.docker/config.json"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| fail(format!("cannot write to it: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot read its output: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        // Only the first line of stderr and without anything that looks like JSON.
        let err = String::from_utf8_lossy(&out.stderr);
        let first: String = err.lines().next().unwrap_or("").chars().take(200).collect();
        return Err(fail(format!("it exited with {}: {first}", out.status)));
    }
    #[derive(serde::Deserialize)]
    struct Reply {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let reply: Reply = serde_json::from_slice(&out.stdout)
        .map_err(|_| fail("its output is not the expected JSON".into()))?;
    if reply.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: reply.username,
        password: Secret::new(reply.secret),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_protocol() {
        let dir = tempfile::tempdir().expect("tmp");
        let script = dir.path().join("docker-credential-kilntest");
        std::fs::write(
            &script,
            "#!/bin/sh\nread host\nif [ \"$host\" = reg:1 ]; then echo '{\"ServerURL\":\"reg:1\",\"Username\":\"bob\",\"Secret\":\"s3cr3t\"}'; else echo 'credentials not found in native keychain'; exit 1; fi\n",
        )
        .expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let c = run(&script, "kilntest", "reg:1")
            .expect("get")
            .expect("creds");
        assert_eq!(
            (c.username.as_str(), c.password.expose()),
            ("bob", "s3cr3t")
        );
        assert_eq!(run(&script, "kilntest", "other").expect("get"), None);
        assert!(get("../evil", "reg:1").is_err());
        let err = get("kiln-no-such-helper", "reg:1").expect_err("missing");
        assert!(
            err.to_string()
                .contains("docker-credential-kiln-no-such-helper"),
            "{err}"
        );
    }
}
