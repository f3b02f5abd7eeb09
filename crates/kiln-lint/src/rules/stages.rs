//! Stages and instruction spelling: names, casing, FROM arguments, continuations.

use super::cmd::var_refs;
use crate::pass::{Cx, Out};
use crate::rule::{Rule, Severity};
use kiln_dockerfile::instructions::Command as Ins;
use std::collections::{BTreeMap, HashSet};

pub(super) static DUPLICATE_STAGE: Rule = Rule {
    id: "KL090",
    name: "duplicate-stage-name",
    severity: Severity::Error,
    summary: "Two stages with the same name.",
    message: "duplicate stage name `{0}`: stage names must be unique",
    why: "`COPY --from`, `FROM name` and `--target` pick one of the stages with that name, and which one is not obvious to a reader; BuildKit rejects it.",
    fix: "Rename one of the stages.",
    hadolint: Some("DL3024"),
    buildkit: Some("DuplicateStageName"),
};

pub(super) static STAGE_NAME_CASING: Rule = Rule {
    id: "KL091",
    name: "stage-name-casing",
    severity: Severity::Warning,
    summary: "A stage name with upper-case letters.",
    message: "stage name `{0}` should be lower case",
    why: "Stage names are case-insensitive and stored in lower case; writing them in mixed case suggests a distinction that does not exist.",
    fix: "Write the name in lower case: `FROM golang:1.22 AS build`.",
    hadolint: None,
    buildkit: Some("StageNameCasing"),
};

pub(super) static FROM_AS_CASING: Rule = Rule {
    id: "KL092",
    name: "from-as-casing",
    severity: Severity::Warning,
    summary: "`AS` written in a different case from `FROM`.",
    message: "`{0}` and `{1}` keywords' casing do not match",
    why: "Mixing `FROM ... as` or `from ... AS` reads as a typo; consistent casing keeps Dockerfiles easy to scan.",
    fix: "Write `FROM image AS name` (or both in lower case).",
    hadolint: None,
    buildkit: Some("FromAsCasing"),
};

pub(super) static RESERVED_STAGE_NAME: Rule = Rule {
    id: "KL093",
    name: "reserved-stage-name",
    severity: Severity::Error,
    summary: "A stage named `scratch` or `context`.",
    message: "stage name `{0}` is reserved",
    why: "`scratch` is the empty image and `context` names the build context in `--build-context`; a stage with either name is ambiguous.",
    fix: "Pick another name.",
    hadolint: None,
    buildkit: Some("ReservedStageName"),
};

pub(super) static CASING: Rule = Rule {
    id: "KL094",
    name: "consistent-instruction-casing",
    severity: Severity::Info,
    summary: "An instruction keyword in a different case from the majority.",
    message: "`{0}` should match the case of the other instructions ({1})",
    why: "Keywords are case-insensitive, but a mix of `RUN` and `run` makes a Dockerfile harder to read and grep.",
    fix: "Write all instructions in the same case (upper case is the convention).",
    hadolint: None,
    buildkit: Some("ConsistentInstructionCasing"),
};

pub(super) static UNDEFINED_ARG_IN_FROM: Rule = Rule {
    id: "KL095",
    name: "undefined-arg-in-from",
    severity: Severity::Warning,
    summary: "FROM uses a variable that no ARG before the first FROM declares.",
    message: "FROM uses `${0}`, which is not declared by an ARG before the first FROM",
    why: "FROM lines only see ARGs declared before the first FROM (and the platform ARGs). An undeclared variable expands to nothing, giving a broken or unexpected image name.",
    fix: "Declare it at the top: `ARG {0}=default`.",
    hadolint: None,
    buildkit: Some("UndefinedArgInFrom"),
};

pub(super) static EMPTY_CONTINUATION: Rule = Rule {
    id: "KL096",
    name: "no-empty-continuation",
    severity: Severity::Warning,
    summary: "An empty line inside a continued instruction.",
    message: "empty continuation line",
    why: "An empty line after a line ending in `\\` is silently skipped today, but it is deprecated and will become an error; it also hides where an instruction ends.",
    fix: "Remove the empty line, or end the instruction before it.",
    hadolint: None,
    buildkit: Some("NoEmptyContinuation"),
};

pub(super) static RULES: &[&Rule] = &[
    &DUPLICATE_STAGE,
    &STAGE_NAME_CASING,
    &FROM_AS_CASING,
    &RESERVED_STAGE_NAME,
    &CASING,
    &UNDEFINED_ARG_IN_FROM,
    &EMPTY_CONTINUATION,
];

pub(super) fn check(cx: &Cx<'_>, out: &mut Out) {
    let from_nodes: Vec<_> = cx.ast.nodes.iter().filter(|n| n.name() == "from").collect();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, st) in cx.df.stages.iter().enumerate() {
        let Some(name) = &st.from.name else { continue };
        if names.insert(name.value.clone(), i).is_some() {
            out.emit(&DUPLICATE_STAGE, name.span, &[&name.value]);
        }
        if matches!(name.value.as_str(), "scratch" | "context") {
            out.emit(&RESERVED_STAGE_NAME, name.span, &[&name.value]);
        }
        if let Some(node) = from_nodes.get(i) {
            if let [_, as_kw, raw] = node.args.as_slice() {
                if raw.value.chars().any(|c| c.is_uppercase()) {
                    out.emit(&STAGE_NAME_CASING, raw.span, &[&raw.value]);
                }
                let from_kw = &node.keyword.value;
                let upper = |s: &str| s.chars().all(|c| !c.is_lowercase());
                let lower = |s: &str| s.chars().all(|c| !c.is_uppercase());
                let ok = (upper(from_kw) && upper(&as_kw.value))
                    || (lower(from_kw) && lower(&as_kw.value));
                if !ok {
                    out.emit(&FROM_AS_CASING, as_kw.span, &[from_kw, &as_kw.value]);
                }
            }
        }
    }
    // Instruction casing: the majority wins; mixed case never matches.
    let mut up = 0usize;
    let mut low = 0usize;
    for n in &cx.ast.nodes {
        let k = &n.keyword.value;
        if k.chars().all(|c| !c.is_lowercase()) {
            up += 1;
        } else if k.chars().all(|c| !c.is_uppercase()) {
            low += 1;
        }
    }
    let want_lower = low > up;
    for n in &cx.ast.nodes {
        let k = &n.keyword.value;
        let ok = if want_lower {
            k.chars().all(|c| !c.is_uppercase())
        } else {
            k.chars().all(|c| !c.is_lowercase())
        };
        if !ok {
            let expected = if want_lower {
                k.to_lowercase()
            } else {
                k.to_uppercase()
            };
            out.emit(&CASING, n.keyword.span, &[k, &expected]);
        }
    }
    // Variables in FROM.
    let mut declared: Vec<&str> = cx.global_args.iter().map(|(k, _)| k).collect();
    for ins in &cx.df.global_args {
        if let Ins::Arg { args } = &ins.command {
            declared.extend(args.iter().map(|a| a.key.value.as_str()));
        }
    }
    // Looked up once per variable of every FROM: a set, not a scan of the list.
    let known: HashSet<&str> = declared.iter().copied().collect();
    for st in &cx.df.stages {
        let mut toks = vec![&st.from.base];
        toks.extend(st.from.platform.as_ref());
        for tok in toks {
            for name in var_refs(&tok.value, cx.df.escape) {
                if known.contains(name.as_str()) {
                    continue;
                }
                let hint =
                    kiln_dockerfile::suggest::did_you_mean(&name, declared.iter().copied(), true);
                match hint {
                    Some(h) => out.emit_hint(
                        &UNDEFINED_ARG_IN_FROM,
                        tok.span,
                        &[&name],
                        h.replace("mean ", "mean $"),
                    ),
                    None => out.emit(&UNDEFINED_ARG_IN_FROM, tok.span, &[&name]),
                }
            }
        }
    }
    for w in &cx.ast.warnings {
        if w.message.starts_with("Empty continuation line") {
            out.emit(&EMPTY_CONTINUATION, w.span, &[]);
        }
    }
}
