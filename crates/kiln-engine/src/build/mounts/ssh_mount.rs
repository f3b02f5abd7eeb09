//! `RUN --mount=type=ssh`: an `--ssh` agent reachable from one step.

use super::super::state::BuildState;
use super::ssh;
use super::{Current, StepMounts};
use crate::build::error::BuildError;

/// `RUN --mount=type=ssh`: a forwarder of the `--ssh` agent, its socket bound at the
/// target and named by `SSH_AUTH_SOCK`.
pub(super) fn prepare(
    cx: &BuildState<'_>,
    cur: &Current<'_, '_>,
    ssh_n: &mut usize,
    out: &mut StepMounts,
) -> Result<(), BuildError> {
    let (input, m, n, target) = (cur.input, cur.input.mount, cur.n, &cur.target);
    let id = m.id.clone().unwrap_or_else(|| "default".into());
    let Some(agent) = cx.spec.ssh.iter().find(|s| s.id == id) else {
        if m.required {
            return cur.fail(
                format!("SSH agent {id:?} is required but was not given"),
                &format!(
                    "pass it with --ssh {id} (the agent of $SSH_AUTH_SOCK) or --ssh {id}=SOCKET"
                ),
            );
        }
        return Ok(());
    };
    let target = target
        .clone()
        .unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{}", *ssh_n));
    *ssh_n += 1;
    let dir = out.private_dir(input.span)?;
    let sock = dir.join(format!("ssh-{n}.sock"));
    let proxy = ssh::AgentProxy::start(
        &sock,
        agent.socket.clone(),
        m.mode.unwrap_or(0o600),
        (m.uid.unwrap_or(0), m.gid.unwrap_or(0)),
    )
    .map_err(|e| BuildError::step_io(input.span, "RUN --mount=type=ssh", e))?;
    out.proxies.push(proxy);
    out.env.push(format!("SSH_AUTH_SOCK={target}"));
    out.bind(target, sock, false);
    Ok(())
}
