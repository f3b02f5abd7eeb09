//! USER and WORKDIR: who runs the image and where.

use crate::pass::{Cx, Out};
use crate::rule::{Rule, Severity};
use kiln_dockerfile::instructions::{Command as Ins, Instruction};

pub(super) static LAST_USER_ROOT: Rule = Rule {
    id: "KL065",
    name: "last-user-root",
    severity: Severity::Warning,
    summary: "The final stage's last USER is root.",
    message: "the image runs as root: the last USER of the final stage is `{0}`",
    why: "A process running as root in a container is root on the files it can reach and one kernel bug away from root on the host. Images should switch to an unprivileged user after the steps that need root.",
    fix: "Create a user and switch to it at the end: `RUN useradd --system --uid 10001 app` and `USER 10001`.",
    hadolint: Some("DL3002"),
    buildkit: None,
};

pub(super) static RELATIVE_WORKDIR: Rule = Rule {
    id: "KL066",
    name: "relative-workdir",
    severity: Severity::Warning,
    summary: "A relative WORKDIR before any absolute WORKDIR in the stage.",
    message: "relative WORKDIR `{0}` depends on the base image's working directory",
    why: "A relative WORKDIR is resolved against the working directory the base image happens to set. When the base image changes it, files end up somewhere else. After an absolute WORKDIR in the same stage a relative one is well defined and not reported.",
    fix: "Use an absolute path: `WORKDIR /app`.",
    hadolint: Some("DL3000"),
    buildkit: Some("WorkdirRelativePath"),
};

pub(super) static COPY_RELATIVE_DEST: Rule = Rule {
    id: "KL067",
    name: "copy-relative-dest-no-workdir",
    severity: Severity::Warning,
    summary: "COPY/ADD to a relative destination before any WORKDIR in the stage.",
    message: "{0} to the relative destination `{1}` without a WORKDIR: it depends on the base image",
    why: "A relative destination is resolved against the working directory of the base image, which the Dockerfile does not show and which can change.",
    fix: "Set `WORKDIR /app` first, or use an absolute destination.",
    hadolint: Some("DL3045"),
    buildkit: None,
};

pub(super) static RULES: &[&Rule] = &[&LAST_USER_ROOT, &RELATIVE_WORKDIR, &COPY_RELATIVE_DEST];

/// Absolute, or not known before the build (a variable).
fn absolute(p: &str) -> bool {
    let b = p.as_bytes();
    p.starts_with('/')
        || p.starts_with('$')
        || p.starts_with('\\')
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

/// Instructions of `stage` up to `end`, then of the stages it is built on.
fn chain<'a>(cx: &'a Cx<'_>, stage: usize, end: usize) -> Vec<&'a Instruction> {
    let mut out = Vec::new();
    let mut cur = Some((stage, end));
    let mut guard = 0;
    while let Some((s, e)) = cur {
        guard += 1;
        if guard > cx.df.stages.len() + 1 {
            break;
        }
        let Some(st) = cx.df.stages.get(s) else { break };
        out.extend(st.instructions[..e.min(st.instructions.len())].iter().rev());
        cur = cx
            .stage_base
            .get(s)
            .copied()
            .flatten()
            .map(|b| (b, usize::MAX));
    }
    out
}

pub(super) fn check(cx: &Cx<'_>, out: &mut Out) {
    let target = cx.plan.target;
    if let Some(st) = cx.df.stages.get(target) {
        let last_user = chain(cx, target, st.instructions.len())
            .into_iter()
            .find_map(|i| match &i.command {
                Ins::User { user } => Some(user),
                _ => None,
            });
        if let Some(user) = last_user {
            let name = user.value.split(':').next().unwrap_or("");
            if name == "root" || name == "0" {
                out.emit(&LAST_USER_ROOT, user.span, &[&user.value]);
            }
        }
    }
    // (any WORKDIR, an absolute WORKDIR) at the end of each stage, for stages built on it.
    let mut end_state: Vec<(bool, bool)> = Vec::with_capacity(cx.df.stages.len());
    for st in &cx.df.stages {
        let (mut any, mut abs) = cx
            .stage_base
            .get(st.index)
            .copied()
            .flatten()
            .and_then(|b| end_state.get(b).copied())
            .unwrap_or((false, false));
        for ins in &st.instructions {
            match &ins.command {
                Ins::Workdir { path } => {
                    if !absolute(&path.value) && !abs {
                        out.emit(&RELATIVE_WORKDIR, path.span, &[&path.value]);
                    }
                    any = true;
                    abs |= absolute(&path.value);
                }
                Ins::Copy(c) | Ins::Add(c) if !absolute(&c.dest.value) && !any => {
                    out.emit(
                        &COPY_RELATIVE_DEST,
                        c.dest.span,
                        &[ins.command.name(), &c.dest.value],
                    );
                }
                _ => {}
            }
        }
        end_state.push((any, abs));
    }
}
