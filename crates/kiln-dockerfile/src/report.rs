//! The plan as people and programs read it (`kiln parse --format human|json`).
//!
//! Instructions are shown after expansion with the ARG and ENV values the Dockerfile
//! itself defines (a base image's own ENV is not known before it is pulled). Stages the
//! target does not need are shown as written: a build never evaluates them, so their
//! variables cannot fail it either.

use crate::error::Result;
use crate::instructions::Instruction;
use crate::plan::{Base, Finished, Plan, Source, Vars};
use crate::syntax::Warning;
use serde::Serialize;
use std::fmt::Write;

/// One instruction in the report.
#[derive(Debug, Serialize)]
pub struct ReportStep<'a> {
    /// The instruction as parsed (typed, with spans).
    #[serde(flatten)]
    pub instruction: &'a Instruction,
    /// Canonical text after expansion; for a stage the target does not need, the text as
    /// written.
    pub expanded: String,
    /// Variables referenced but not defined by the Dockerfile.
    pub undefined: Vec<String>,
    /// The instruction after expansion (heredoc bodies of COPY and ADD included).
    #[serde(skip)]
    pub command: crate::instructions::Command,
}

#[derive(Debug, Serialize)]
pub struct ReportStage<'a> {
    pub index: usize,
    pub name: Option<&'a str>,
    pub base: &'a Base,
    pub platform: Option<&'a str>,
    pub needed: bool,
    pub target: bool,
    pub steps: Vec<ReportStep<'a>>,
    /// ARG values in force at the end of the stage.
    pub args: Vec<(String, Option<String>)>,
}

#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub escape: char,
    pub directives: &'a [crate::syntax::Directive],
    pub global_args: Vec<&'a Instruction>,
    pub global_scope: &'a Vars,
    pub stages: Vec<ReportStage<'a>>,
    pub target: usize,
    pub order: &'a [usize],
    pub unused_build_args: &'a [String],
    pub warnings: Vec<Warning>,
}

/// Build the report, expanding every stage the target needs.
pub fn report(plan: &Plan) -> Result<Report<'_>> {
    let df = &plan.dockerfile;
    let mut build_args = crate::plan::BuildArgs::new(plan.build_args.clone());
    let mut stages = Vec::new();
    let bases = plan.stages.iter().map(|s| &s.base);
    let mut finished = Finished::new(df.stages.len(), bases, df.escape);
    for (stage, planned) in df.stages.iter().zip(&plan.stages) {
        let needed = plan.needed(stage.index);
        let mut scope = finished.start(&planned.base);
        let mut steps = Vec::new();
        for ins in &stage.instructions {
            steps.push(if needed {
                let step = scope.step(ins, &plan.global_args, &mut build_args)?;
                ReportStep {
                    instruction: ins,
                    expanded: step.command.to_string(),
                    undefined: step.undefined.into_iter().map(|(n, _)| n).collect(),
                    command: step.command,
                }
            } else {
                ReportStep {
                    instruction: ins,
                    expanded: ins.original.trim().to_string(),
                    undefined: Vec::new(),
                    command: ins.command.clone(),
                }
            });
        }
        stages.push(ReportStage {
            index: stage.index,
            name: stage.name(),
            base: &planned.base,
            platform: planned.platform.as_deref(),
            needed,
            target: stage.index == plan.target,
            steps,
            args: scope.args.to_list(),
        });
        finished.finish(stage.index, scope);
    }
    Ok(Report {
        escape: df.escape,
        directives: &df.directives,
        global_args: df.global_args.iter().collect(),
        global_scope: &plan.global_args,
        stages,
        target: plan.target,
        order: &plan.order,
        unused_build_args: &plan.unused_build_args,
        warnings: df.warnings.clone(),
    })
}

/// The human-readable form: stages with their base, status and expanded steps.
pub fn human(plan: &Plan, report: &Report<'_>) -> String {
    let mut out = String::new();
    let label = |i: usize| {
        plan.stages[i]
            .name
            .as_ref()
            .map_or_else(|| format!("#{i}"), |n| format!("#{i} \"{n}\""))
    };
    for d in report.directives {
        let _ = writeln!(out, "directive {}  {}={}", d.span.start, d.name, d.value);
    }
    for (ins, resolved) in report.global_args.iter().zip(&plan.global_steps) {
        let _ = writeln!(out, "global {:>5}  {resolved}", pos(ins));
    }
    for s in &report.stages {
        let base = match s.base {
            Base::Scratch => "scratch".to_string(),
            Base::Image(i) => format!("image {i}"),
            Base::Stage(i) => format!("stage {}", label(*i)),
        };
        let status = if s.target {
            "target"
        } else if s.needed {
            "needed"
        } else {
            "skipped"
        };
        let platform = s
            .platform
            .map(|p| format!(" --platform={p}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "stage {} FROM {base}{platform} [{status}]",
            label(s.index)
        );
        for (i, step) in s.steps.iter().enumerate() {
            // Only ONBUILD's text has more lines (its heredoc bodies); they follow below.
            let first_line = step.expanded.lines().next().unwrap_or_default();
            let _ = write!(out, "  {:>7}  {first_line}", pos(step.instruction));
            for r in plan.stages[s.index]
                .refs
                .iter()
                .filter(|r| r.instruction == i)
            {
                let _ = match &r.source {
                    Source::Stage(t) => write!(out, "  <- stage {}", label(*t)),
                    Source::Image(img) => write!(out, "  <- image {img}"),
                };
            }
            out.push('\n');
            heredoc_bodies(&mut out, &step.instruction.command, &step.command);
        }
    }
    let order: Vec<String> = report.order.iter().map(|i| label(*i)).collect();
    let _ = writeln!(out, "build order: {}", order.join(", "));
    out
}

/// Heredoc bodies under their step: `<<NAME (expand|verbatim)` (as written) then `| line`
/// per line (of the expanded step); for ONBUILD, the lines of its trigger after the first
/// (the heredoc bodies it carries).
fn heredoc_bodies(
    out: &mut String,
    written: &crate::instructions::Command,
    cmd: &crate::instructions::Command,
) {
    use crate::instructions::Command;
    let bodies: Vec<(String, bool, String)> = match (written, cmd) {
        (Command::Copy(w) | Command::Add(w), Command::Copy(c) | Command::Add(c)) => w
            .inline
            .iter()
            .zip(&c.inline)
            .map(|(w, i)| (i.path.clone(), w.expand, i.data.clone()))
            .collect(),
        (_, Command::Run(r)) => r
            .command
            .files
            .iter()
            .map(|f| (f.name.clone(), f.expand, f.body()))
            .collect(),
        (_, Command::Onbuild { expression, .. }) => {
            for line in expression.lines().skip(1) {
                let _ = writeln!(out, "           | {line}");
            }
            Vec::new()
        }
        _ => Vec::new(),
    };
    for (name, expand, body) in bodies {
        let mode = if expand { "expand" } else { "verbatim" };
        let _ = writeln!(out, "           <<{name} ({mode})");
        // Line by line, a carriage return kept (it is part of the body).
        for line in body.split_inclusive('\n') {
            let line = line.strip_suffix('\n').unwrap_or(line);
            let _ = writeln!(out, "           | {line}");
        }
    }
}

fn pos(ins: &Instruction) -> String {
    format!("{}:{}", ins.span.start.line, ins.span.start.col)
}
