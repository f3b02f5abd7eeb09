//! The build context: its size, and files `.dockerignore` leaves out.

use super::copy::is_url;
use crate::pass::{Cx, Out};
use crate::rule::{Rule, Severity};
use kiln_dockerfile::dockerignore::Ignore;
use kiln_dockerfile::instructions::Command as Ins;

pub(super) static LARGE_CONTEXT: Rule = Rule {
    id: "KL110",
    name: "large-context-no-dockerignore",
    severity: Severity::Warning,
    summary: "A large build context (over `context-size-limit-mib`, 100 MiB by default) without a `.dockerignore`.",
    message: "the build context is {0} and there is no .dockerignore",
    why: "Everything in the context can end up in the image through `COPY . .`: version-control history, `node_modules`, build output, local secrets such as `.env`. It also makes every build slower to start.",
    fix: "Add a `.dockerignore` next to the Dockerfile that leaves out what the image does not need, for example `.git`, `node_modules`, `target`, `*.log`, `.env`.",
    hadolint: None,
    buildkit: None,
};

pub(super) static COPY_IGNORED: Rule = Rule {
    id: "KL111",
    name: "copy-ignored-file",
    severity: Severity::Error,
    summary: "COPY/ADD of a path that `.dockerignore` excludes.",
    message: "{0} `{1}`, which .dockerignore excludes (pattern `{2}`)",
    why: "Files excluded by `.dockerignore` are not in the build context, so copying them fails or copies nothing, depending on the path.",
    fix: "Remove the path from the COPY, or re-include it in `.dockerignore` with a `!path` line.",
    hadolint: None,
    buildkit: Some("CopyIgnoredFile"),
};

pub(super) static RULES: &[&Rule] = &[&LARGE_CONTEXT, &COPY_IGNORED];

fn human_size(b: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if b >= 1024 * MIB {
        format!("{:.1} GiB", b as f64 / (1024 * MIB) as f64)
    } else {
        format!("{} MiB", b / MIB)
    }
}

pub(super) fn check(cx: &Cx<'_>, out: &mut Out) {
    let from_context = cx
        .df
        .stages
        .iter()
        .flat_map(|s| s.instructions.iter())
        .filter_map(|ins| match &ins.command {
            Ins::Copy(c) | Ins::Add(c) if c.from.is_none() => Some((ins, c)),
            _ => None,
        });
    match cx.input.dockerignore {
        None => {
            let Some(ctx) = cx.input.context else { return };
            if ctx.total_bytes <= cx.input.config.context_size_limit {
                return;
            }
            let first = from_context
                .clone()
                .find(|(_, c)| c.sources.iter().any(|s| !is_url(&s.value)));
            if let Some((ins, _)) = first {
                let size = if ctx.truncated {
                    format!("over {}", human_size(ctx.total_bytes))
                } else {
                    human_size(ctx.total_bytes)
                };
                let hint = if ctx.notable.is_empty() {
                    "create .dockerignore next to the Dockerfile".to_string()
                } else {
                    format!(
                        "create .dockerignore next to the Dockerfile; the context contains {}",
                        ctx.notable.join(", ")
                    )
                };
                out.emit_hint(&LARGE_CONTEXT, ins.keyword.span, &[&size], hint);
            }
        }
        Some(text) => {
            // An unparsable .dockerignore fails the build itself; nothing to say here.
            let Ok(di) = Ignore::parse(text) else {
                return;
            };
            if di.is_empty() {
                return;
            }
            for (ins, c) in from_context {
                for s in &c.sources {
                    let v = &s.value;
                    if is_url(v) || v.contains(['*', '?', '[', '$']) {
                        continue;
                    }
                    if let Some(p) = di.excluded_by(v) {
                        let verb = if matches!(ins.command, Ins::Add(_)) {
                            "ADD of"
                        } else {
                            "COPY of"
                        };
                        out.emit(&COPY_IGNORED, s.span, &[verb, v, p]);
                    }
                }
            }
        }
    }
}
