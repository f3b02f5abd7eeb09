//! Stage references and the order stages are built in.

use super::PlannedStage;
use crate::error::{Error, ErrorKind, Result};
use crate::instructions::{Command, Dockerfile, Stage};
use crate::span::Span;
use crate::suggest::closest;
use serde::Serialize;

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Base {
    Scratch,
    /// An image reference (expanded).
    Image(String),
    /// An earlier stage, by index.
    Stage(usize),
}

/// Where `COPY --from` or `RUN --mount from=` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Source {
    Stage(usize),
    Image(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefKind {
    CopyFrom,
    MountFrom,
}

/// A reference from an instruction to a stage or image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageRef {
    /// Index of the instruction in its stage.
    pub instruction: usize,
    pub kind: RefKind,
    pub source: Source,
    pub span: Span,
}

/// FROM NAME: an earlier stage with that name, `scratch`, or an image.
pub(crate) fn resolve_base(base: &str, _index: usize, earlier: &[PlannedStage]) -> Base {
    if base.eq_ignore_ascii_case("scratch") {
        return Base::Scratch;
    }
    match earlier
        .iter()
        .rev()
        .find(|s| s.name.as_deref() == Some(base))
    {
        Some(s) => Base::Stage(s.index),
        None => Base::Image(base.to_string()),
    }
}

/// Check what can be checked of an image reference without a registry: the repository
/// path (after an optional registry host, before the tag or digest) must be lower case,
/// as the reference grammar requires. `FROM Build` after `AS build` is the usual slip:
/// stage names are matched exactly in FROM.
pub(crate) fn check_image_ref(name: &str, span: Span, earlier: &[PlannedStage]) -> Result<()> {
    let without_digest = name.split('@').next().unwrap_or(name);
    let (host, rest) = match without_digest.split_once('/') {
        Some((h, r))
            if h.contains(['.', ':']) || h == "localhost" || h.chars().any(char::is_uppercase) =>
        {
            (Some(h), r)
        }
        _ => (None, without_digest),
    };
    let path = rest.split_once(':').map_or(rest, |(p, _)| p);
    if !path.chars().any(char::is_uppercase) {
        return Ok(());
    }
    let shown = match host {
        None if !path.contains('/') => format!("library/{path}"),
        _ => path.to_string(),
    };
    let lower = name.to_lowercase();
    let hint = match earlier
        .iter()
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        Some(s) => format!(
            "stage names are matched exactly in FROM: write FROM {} for stage #{}",
            lower, s.index
        ),
        None => "image repository names are lower case".to_string(),
    };
    Err(Error::new(
        ErrorKind::Stage,
        span,
        format!(
            "failed to parse stage name \"{name}\": invalid reference format: repository name ({shown}) must be lowercase"
        ),
    )
    .with_hint(hint))
}

/// Every `COPY --from` and `RUN --mount from=` of `stage`.
pub(crate) fn references(stage: &Stage, all: &[Stage]) -> Result<Vec<StageRef>> {
    let mut refs = Vec::new();
    for (i, ins) in stage.instructions.iter().enumerate() {
        match &ins.command {
            Command::Copy(c) => {
                if let Some(from) = &c.from {
                    if from.value.contains('$') {
                        let lexed = crate::shell::Lexer::new('\\')
                            .expand_word(&from.value, &Vec::<(String, String)>::new());
                        if lexed.map(|e| e.word) != Ok(from.value.clone()) {
                            return Err(Error::new(
                                ErrorKind::Stage,
                                from.span,
                                "variable expansion is not supported for --from",
                            )
                            .with_hint("define a new stage with `FROM ${VAR} AS name` (ARG in the global scope) and use --from=name"));
                        }
                    }
                    let source = source_for(&from.value, from.span, stage, all, RefKind::CopyFrom)?;
                    refs.push(StageRef {
                        instruction: i,
                        kind: RefKind::CopyFrom,
                        source,
                        span: from.span,
                    });
                }
            }
            Command::Run(r) => {
                for m in &r.mounts {
                    if let Some(from) = mount_from(&m.value) {
                        let source = source_for(&from, m.span, stage, all, RefKind::MountFrom)?;
                        refs.push(StageRef {
                            instruction: i,
                            kind: RefKind::MountFrom,
                            source,
                            span: m.span,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(refs)
}

/// The `from=` option of a raw `--mount` value, if any.
fn mount_from(raw: &str) -> Option<String> {
    raw.split(',').find_map(|f| {
        let (k, v) = f.split_once('=')?;
        k.trim_matches('"')
            .eq_ignore_ascii_case("from")
            .then(|| v.trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
    })
}

/// Resolve a `--from` value: a stage name, a stage index (COPY only), or an image.
/// Only earlier stages can be used: a reference to the stage itself or a later one is a
/// dependency cycle or an ordering error.
fn source_for(
    value: &str,
    span: Span,
    stage: &Stage,
    all: &[Stage],
    kind: RefKind,
) -> Result<Source> {
    let allow_index = kind == RefKind::CopyFrom;
    let lower = value.to_lowercase();
    let target = if let Some(s) = all.iter().find(|s| s.name() == Some(lower.as_str())) {
        Some(s.index)
    } else if allow_index && !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) {
        match value.parse::<usize>().ok().filter(|i| *i < all.len()) {
            Some(i) => Some(i),
            None => {
                return Err(Error::new(
                    ErrorKind::Stage,
                    span,
                    format!("invalid stage index {value}"),
                )
                .with_hint(format!(
                    "this Dockerfile has stages 0 to {}",
                    all.len().saturating_sub(1)
                )))
            }
        }
    } else {
        None
    };
    let Some(t) = target else {
        check_image_ref(value, span, &[])?;
        return Ok(Source::Image(value.to_string()));
    };
    let cur = stage
        .name()
        .map_or_else(|| format!("#{}", stage.index), str::to_string);
    if t == stage.index {
        return Err(Error::new(
            ErrorKind::Stage,
            span,
            format!("circular dependency detected on stage: {cur}"),
        )
        .with_hint("a stage cannot copy or mount from itself; split it into two stages"));
    }
    if t > stage.index {
        let verb = match kind {
            RefKind::CopyFrom => "copy",
            RefKind::MountFrom => "mount",
        };
        return Err(Error::new(
            ErrorKind::Stage,
            span,
            format!("cannot {verb} from stage \"{value}\", it needs to be defined before current stage \"{cur}\""),
        )
        .with_hint(format!("move stage \"{value}\" above stage \"{cur}\"")));
    }
    Ok(Source::Stage(t))
}

/// The stages `target` needs, dependencies first (depth-first, in Dockerfile order).
pub(crate) fn build_order(
    stages: &[PlannedStage],
    target: usize,
    df: &Dockerfile,
) -> Result<Vec<usize>> {
    let mut order = Vec::new();
    let mut state = vec![0u8; stages.len()]; // 0 new, 1 in progress, 2 done
    let mut stack = vec![(target, false)];
    while let Some((i, children_done)) = stack.pop() {
        if children_done {
            state[i] = 2;
            order.push(i);
            continue;
        }
        if state[i] == 2 {
            continue;
        }
        if state[i] == 1 {
            return Err(Error::new(
                ErrorKind::Stage,
                df.stages[i].from_span,
                format!(
                    "circular dependency detected on stage: {}",
                    stages[i].label()
                ),
            ));
        }
        state[i] = 1;
        stack.push((i, true));
        let mut deps: Vec<usize> = stages[i].stage_deps().collect();
        deps.sort_unstable();
        deps.dedup();
        for d in deps.into_iter().rev() {
            if state[d] != 2 {
                stack.push((d, false));
            }
        }
    }
    Ok(order)
}

/// For an image reference that looks like a misspelt stage name, the stage it was probably
/// meant to be.
pub fn likely_stage<'a>(image: &str, stages: &'a [PlannedStage]) -> Option<&'a str> {
    if image.contains(['/', ':', '@', '.']) {
        return None;
    }
    closest(
        image,
        stages.iter().filter_map(|s| s.name.as_deref()),
        false,
    )
}
