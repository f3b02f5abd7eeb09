//! `RUN --mount=type=secret`: a `--secret` value given to one step, never in a layer.

use super::super::state::BuildState;
use super::{Current, StepMounts};
use crate::build::error::BuildError;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `RUN --mount=type=secret`: the secret as a file on the step's private tmpfs, bound
/// read-only at the target, and/or as a variable (`env=`).
pub(super) fn prepare(
    cx: &BuildState<'_>,
    cur: &Current<'_, '_>,
    out: &mut StepMounts,
) -> Result<(), BuildError> {
    let (input, m, n, target) = (cur.input, cur.input.mount, cur.n, &cur.target);
    let id =
        m.id.clone()
            .or_else(|| m.source.clone())
            .or_else(|| {
                target
                    .as_deref()
                    .and_then(|t| Path::new(t).file_name())
                    .map(|f| f.to_string_lossy().into_owned())
            })
            .unwrap_or_default();
    let Some(secret) = cx.spec.secrets.get(&id) else {
        if m.required {
            return cur.fail(
                format!("secret {id:?} is required but was not given"),
                &format!("pass it with --secret id={id},src=FILE (or env=VAR)"),
            );
        }
        return Ok(());
    };
    if let Some(var) = &m.env {
        let value = std::str::from_utf8(&secret.0)
            .ok()
            .filter(|v| !v.contains('\0'))
            .ok_or_else(|| {
                BuildError::step(
                    input.span,
                    format!("RUN --mount=type=secret,id={id},env={var}: the secret is not text without NUL bytes"),
                )
                .with_hint("mount it as a file instead (drop env=)")
            })?;
        out.env.push(format!("{var}={value}"));
        if target.is_none() {
            return Ok(());
        }
    }
    let target = target
        .clone()
        .unwrap_or_else(|| format!("/run/secrets/{id}"));
    let dir = out.private_dir(input.span)?;
    let file = dir.join(format!("secret-{n}"));
    let write = || -> std::io::Result<()> {
        std::fs::write(&file, &secret.0)?;
        std::fs::set_permissions(
            &file,
            std::fs::Permissions::from_mode(m.mode.unwrap_or(0o400) & 0o7777),
        )?;
        std::os::unix::fs::chown(&file, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
    };
    write().map_err(|e| {
        BuildError::step_io(
            input.span,
            format!("secret {id:?}: cannot write it to the step's tmpfs"),
            e,
        )
    })?;
    out.bind(target, file, true);
    Ok(())
}
