//! Typed instructions -> build plan: base of every stage resolved (scratch, image, earlier
//! stage), stage references from `FROM`, `COPY --from` and `RUN --mount from=`, the stages
//! a target needs in build order, global ARG values, unused build args.

mod graph;
#[cfg(test)]
mod linear_tests;
mod scope;
mod vars;

pub use graph::{likely_stage, Base, RefKind, Source, StageRef};
pub use scope::{
    global_scope, platform_args, BuildArgs, EnvList, ExpandedStep, Finished, StageScope, PROXY_ARGS,
};
pub use vars::Vars;

use crate::error::{Error, ErrorKind, Result};
use crate::instructions::{Dockerfile, Expander};
use crate::suggest::did_you_mean;
use kiln_oci::Platform;
use serde::Serialize;
use std::collections::BTreeMap;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target`: a stage name (or index).
    pub target: Option<String>,
    pub build_platform: Platform,
    /// `--platform` (default: the build platform).
    pub target_platform: Option<Platform>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            build_args: BTreeMap::new(),
            target: None,
            build_platform: Platform::host(),
            target_platform: None,
        }
    }
}

/// A stage with its base and references resolved.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStage {
    pub index: usize,
    pub name: Option<String>,
    pub base: Base,
    /// `FROM --platform=` after expansion.
    pub platform: Option<String>,
    /// Stages and images this stage reads from, besides its base.
    pub refs: Vec<StageRef>,
}

impl PlannedStage {
    /// Indexes of the stages this one needs built first.
    pub fn stage_deps(&self) -> impl Iterator<Item = usize> + '_ {
        let base = match self.base {
            Base::Stage(i) => Some(i),
            _ => None,
        };
        base.into_iter()
            .chain(self.refs.iter().filter_map(|r| match r.source {
                Source::Stage(i) => Some(i),
                _ => None,
            }))
    }

    /// `name` or `#index` for messages.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("#{}", self.index))
    }
}

/// The build plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub dockerfile: Dockerfile,
    /// Variables usable in FROM lines (platform ARGs and global ARGs).
    pub global_args: Vars,
    /// The global ARG instructions with their values resolved.
    pub global_steps: Vec<crate::instructions::Command>,
    pub stages: Vec<PlannedStage>,
    /// The stage to build.
    pub target: usize,
    /// The stages the target needs, each after the stages it depends on; ends with the
    /// target.
    pub order: Vec<usize>,
    /// Build args that no needed ARG declares.
    pub unused_build_args: Vec<String>,
    /// The `--build-arg` values the plan was made with.
    #[serde(skip)]
    pub build_args: BTreeMap<String, String>,
    pub target_platform: Platform,
}

impl Plan {
    /// Is this stage needed for the target?
    pub fn needed(&self, index: usize) -> bool {
        self.order.contains(&index)
    }

    /// Whether Dockerfile line `line` (1-based) matters for the target: it is before the
    /// first FROM (parser directives, global ARGs) or in a stage the target needs.
    pub fn line_needed(&self, line: u32) -> bool {
        self.stage_of_line(line).map_or(true, |i| self.needed(i))
    }

    /// Whether the files of the stage holding Dockerfile line `line` reach the image: it
    /// is the target, a stage the target is built FROM, or a stage such a stage copies
    /// whole (`COPY --from=NAME / /`), and so on. Lines before the first FROM count as
    /// reaching it. The other needed stages reach it only through the files `COPY --from`
    /// picks from them.
    pub fn line_reaches_image(&self, line: u32) -> bool {
        self.stage_of_line(line)
            .map_or(true, |stage| self.stages_reaching_image().contains(&stage))
    }

    fn stages_reaching_image(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut todo = vec![self.target];
        while let Some(i) = todo.pop() {
            if out.contains(&i) || i >= self.stages.len() {
                continue;
            }
            out.push(i);
            if let Base::Stage(j) = self.stages[i].base {
                todo.push(j);
            }
            let instructions = &self.dockerfile.stages[i].instructions;
            for r in &self.stages[i].refs {
                let whole = match instructions.get(r.instruction).map(|ins| &ins.command) {
                    Some(crate::instructions::Command::Copy(c)) => c
                        .sources
                        .iter()
                        .any(|s| s.value.split('/').all(|c| c.is_empty() || c == ".")),
                    _ => false,
                };
                if let (RefKind::CopyFrom, Source::Stage(j), true) = (r.kind, &r.source, whole) {
                    todo.push(*j);
                }
            }
        }
        out
    }

    /// The stage holding Dockerfile line `line` (1-based); `None` before the first FROM.
    fn stage_of_line(&self, line: u32) -> Option<usize> {
        let stages = &self.dockerfile.stages;
        stages.iter().rposition(|s| s.from_span.start.line <= line)
    }
}

/// Make the plan.
pub fn plan(dockerfile: Dockerfile, opts: &PlanOptions) -> Result<Plan> {
    let target = find_target(&dockerfile, opts.target.as_deref())?;
    let target_platform = opts
        .target_platform
        .clone()
        .unwrap_or_else(|| opts.build_platform.clone());
    let target_name = dockerfile.stages[target]
        .name()
        .map_or_else(|| "default".to_string(), str::to_string);
    let mut build_args = BuildArgs::new(opts.build_args.clone());
    let (global_args, global_steps) = global_scope(
        platform_args(&opts.build_platform, &target_platform, &target_name),
        &dockerfile.global_args,
        &mut build_args,
        dockerfile.escape,
    )?;
    let mut stages = Vec::with_capacity(dockerfile.stages.len());
    for stage in &dockerfile.stages {
        let mut ex = Expander::new(dockerfile.escape, &global_args);
        let base = ex.word(&stage.from.base)?;
        if base.value.is_empty() {
            return Err(scope::blank_base(
                stage.from.base.span,
                &stage.from.base.value,
                &ex.unmatched,
            ));
        }
        let platform = match &stage.from.platform {
            Some(p) => {
                let seen = ex.unmatched.len();
                let v = ex.word(p)?;
                if v.value.is_empty() {
                    let mut e = Error::new(
                        ErrorKind::Stage,
                        p.span,
                        format!("empty platform value from expression {}", p.value),
                    );
                    e.hint = scope::undefined_hint(&ex.unmatched[seen..]);
                    return Err(e);
                }
                Platform::parse(&v.value)
                    .map_err(|e| Error::new(ErrorKind::Stage, p.span, e.to_string()))?;
                Some(v.value)
            }
            None => None,
        };
        let base = graph::resolve_base(&base.value, stage.index, &stages);
        if let Base::Image(name) = &base {
            graph::check_image_ref(name, stage.from.base.span, &stages)?;
        }
        stages.push(PlannedStage {
            index: stage.index,
            name: stage.name().map(str::to_string),
            base,
            platform,
            refs: Vec::new(),
        });
    }
    for (i, stage) in dockerfile.stages.iter().enumerate() {
        stages[i].refs = graph::references(stage, &dockerfile.stages)?;
    }
    let order = graph::build_order(&stages, target, &dockerfile)?;
    // Walk the needed stages once to see which build args their ARGs consume.
    let bases = order.iter().map(|&i| &stages[i].base);
    let mut finished = Finished::new(stages.len(), bases, dockerfile.escape);
    for &i in &order {
        let mut scope = finished.start(&stages[i].base);
        for ins in &dockerfile.stages[i].instructions {
            scope.step(ins, &global_args, &mut build_args)?;
        }
        finished.finish(i, scope);
    }
    Ok(Plan {
        global_args,
        global_steps,
        stages,
        target,
        order,
        unused_build_args: build_args.unused(),
        build_args: opts.build_args.clone(),
        target_platform,
        dockerfile,
    })
}

fn find_target(df: &Dockerfile, target: Option<&str>) -> Result<usize> {
    let Some(t) = target else {
        return Ok(df.stages.len() - 1);
    };
    let lower = t.to_lowercase();
    if let Some(s) = df.stages.iter().find(|s| s.name() == Some(lower.as_str())) {
        return Ok(s.index);
    }
    let names: Vec<&str> = df.stages.iter().filter_map(|s| s.name()).collect();
    let mut e = Error::new(
        ErrorKind::Stage,
        crate::span::Span::default(),
        format!("target stage \"{t}\" could not be found"),
    );
    e.hint = Some(match did_you_mean(&lower, names.iter().copied(), false) {
        Some(h) => h,
        None if names.is_empty() => {
            "this Dockerfile has no named stages (name one with FROM IMAGE AS NAME)".to_string()
        }
        None => format!("stages: {}", names.join(", ")),
    });
    Err(e)
}

#[cfg(test)]
mod reach_tests {
    use super::*;

    #[test]
    fn the_target_and_the_stages_it_is_built_from_reach_the_image() {
        let text = "ARG V=1\nFROM img AS a\nFROM a AS b\nFROM img AS c\nRUN true\n\
                    FROM img AS d\nFROM b\nCOPY --from=c /x /x\nCOPY --from=d / /\n";
        let ast = crate::syntax::parse(text).expect("parses");
        let df = crate::instructions::from_ast(&ast).expect("typed");
        let p = plan(df, &PlanOptions::default()).expect("plans");
        let reach: Vec<bool> = (1..=9).map(|l| p.line_reaches_image(l)).collect();
        // c gives one file; d is copied whole, so its files reach the image.
        assert_eq!(
            reach,
            [true, true, true, false, false, true, true, true, true]
        );
        assert!((1..=9).all(|l| p.line_needed(l)), "c and d are needed");
    }
}
