//! One lint pass over a Dockerfile: the front end's view of it, RUN scripts split into commands,
//! the rule families, inline `# kiln-ignore=` comments.

use crate::pos::TextMap;
use crate::rule::{Finding, Rule};
use crate::rules;
use crate::shell::{self, Command as ShellCommand, Script, Word};
use crate::LintInput;
use kiln_dockerfile::instructions::{self, Command, Dockerfile, Instruction, Run};
use kiln_dockerfile::plan::{plan, Base, Plan, PlanOptions, Vars};
use kiln_dockerfile::syntax::{self, Ast};
use kiln_dockerfile::Span;

/// What the rules look at.
pub(crate) struct Cx<'a> {
    pub input: &'a LintInput<'a>,
    pub ast: &'a Ast,
    pub df: &'a Dockerfile,
    /// Global ARG values (platform ARGs included), for walking stages.
    pub global_args: &'a Vars,
    /// The stage plan: bases resolved (global ARGs expanded).
    pub plan: &'a Plan,
    /// The Dockerfile's lines (for mapping RUN scripts back to it).
    pub lines: &'a [&'a str],
    /// For each stage, the earlier stage it is built on (`FROM stage`).
    pub stage_base: Vec<Option<usize>>,
}

impl<'a> Cx<'a> {
    /// Every RUN of every stage in order, split into commands as it is reached.
    pub fn runs(&self) -> impl Iterator<Item = RunCx<'a>> + '_ {
        let (df, lines) = (self.df, self.lines);
        df.stages.iter().flat_map(move |stage| {
            stage
                .instructions
                .iter()
                .enumerate()
                .filter_map(move |(index, ins)| {
                    let Command::Run(run) = &ins.command else {
                        return None;
                    };
                    let (script, map) = run_script(run, ins.span.end.line, lines, df.escape);
                    Some(RunCx {
                        stage: stage.index,
                        index,
                        ins,
                        run,
                        script,
                        map,
                    })
                })
        })
    }

    /// For every RUN of [`Cx::runs`] (same order), a state carried through the stages:
    /// `update` sees each instruction; a stage built on another starts from that stage's
    /// final state, others from `init`.
    pub fn state_at_runs<T: Clone>(&self, init: T, update: impl Fn(&mut T, &Command)) -> Vec<T> {
        let mut end_state: Vec<T> = Vec::with_capacity(self.df.stages.len());
        let mut out = Vec::new();
        for st in &self.df.stages {
            let mut cur = self
                .stage_base
                .get(st.index)
                .copied()
                .flatten()
                .and_then(|b| end_state.get(b).cloned())
                .unwrap_or_else(|| init.clone());
            for ins in &st.instructions {
                if matches!(ins.command, Command::Run(_)) {
                    out.push(cur.clone());
                }
                update(&mut cur, &ins.command);
            }
            end_state.push(cur);
        }
        out
    }
}

/// A RUN instruction and its shell commands.
pub(crate) struct RunCx<'a> {
    pub stage: usize,
    /// Index of the instruction in its stage.
    pub index: usize,
    pub ins: &'a Instruction,
    pub run: &'a Run,
    pub script: Script,
    map: TextMap,
}

impl RunCx<'_> {
    pub fn word_span(&self, w: &Word) -> Span {
        self.map.span(w.start, w.end)
    }

    pub fn cmd_span(&self, c: &ShellCommand) -> Span {
        self.map.span(c.start, c.end)
    }

    /// The span of the program word of `c` (or the command).
    pub fn program_span(&self, c: &ShellCommand) -> Span {
        match c.program_index().and_then(|i| c.words.get(i)) {
            Some(w) => self.word_span(w),
            None => self.cmd_span(c),
        }
    }

    /// Does the RUN have a cache mount on (a parent of) `path`?
    pub fn cache_mount(&self, paths: &[&str]) -> bool {
        self.run.mounts.iter().any(|m| {
            let v = m.value.to_ascii_lowercase();
            v.contains("type=cache")
                && v.split(',').any(|kv| {
                    let Some((k, val)) = kv.split_once('=') else {
                        return false;
                    };
                    matches!(k.trim(), "target" | "dst" | "destination")
                        && paths.iter().any(|p| {
                            let val = val.trim().trim_end_matches('/');
                            !val.is_empty() && (p.starts_with(val) || val.starts_with(p))
                        })
                })
        })
    }

    /// Commands of one of `names` (after wrappers such as sudo).
    pub fn commands<'s>(&'s self, names: &'s [&str]) -> impl Iterator<Item = &'s ShellCommand> {
        self.script.by_program(names)
    }

    /// Does any command remove (`rm`) a path that contains one of `parts`?
    pub fn removes(&self, parts: &[&str]) -> bool {
        self.script.by_program(&["rm"]).any(|c| {
            c.operands(0, &[])
                .iter()
                .any(|w| parts.iter().any(|p| w.text.contains(p)))
        })
    }
}

/// Collects findings.
#[derive(Default)]
pub(crate) struct Out {
    pub findings: Vec<Finding>,
}

impl Out {
    pub fn emit(&mut self, rule: &'static Rule, span: Span, args: &[&str]) {
        self.findings.push(Finding {
            rule,
            severity: rule.severity,
            message: rule.format(args),
            span,
            hint: None,
        });
    }

    pub fn emit_hint(
        &mut self,
        rule: &'static Rule,
        span: Span,
        args: &[&str],
        hint: impl Into<String>,
    ) {
        self.emit(rule, span, args);
        if let Some(f) = self.findings.last_mut() {
            f.hint = Some(hint.into());
        }
    }
}

/// Front-end error as a finding.
fn invalid(e: &kiln_dockerfile::Error) -> Finding {
    Finding {
        rule: &rules::INVALID,
        severity: rules::INVALID.severity,
        message: rules::INVALID.format(&[&e.message]),
        span: e.span,
        hint: e.hint.clone(),
    }
}

pub(crate) fn run(input: &LintInput<'_>) -> Vec<Finding> {
    let ast = match syntax::parse_bytes(input.dockerfile) {
        Ok(a) => a,
        Err(e) => return vec![invalid(&e)],
    };
    let df = match instructions::from_ast(&ast) {
        Ok(d) => d,
        Err(e) => return vec![invalid(&e)],
    };
    let planned: Plan = match plan(df, &PlanOptions::default()) {
        Ok(p) => p,
        Err(e) => return vec![invalid(&e)],
    };
    let df = &planned.dockerfile;
    let source = String::from_utf8_lossy(input.dockerfile);
    let source = source.strip_prefix('\u{feff}').unwrap_or(&source);
    let lines: Vec<&str> = source.split_inclusive('\n').collect();
    let cx = Cx {
        input,
        ast: &ast,
        df,
        global_args: &planned.global_args,
        plan: &planned,
        lines: &lines,
        stage_base: planned
            .stages
            .iter()
            .map(|s| match s.base {
                Base::Stage(i) => Some(i),
                _ => None,
            })
            .collect(),
    };
    let mut out = Out::default();
    rules::check_all(&cx, &mut out);
    let ignores = inline_ignores(&ast);
    out.findings
        .into_iter()
        .filter(|f| !ignored(&ignores, f))
        .collect()
}

/// The commands a RUN runs and how to map their offsets back to the Dockerfile.
fn run_script(run: &Run, ins_end_line: u32, lines: &[&str], escape: char) -> (Script, TextMap) {
    let line = &run.command;
    let args = line.args.as_deref().unwrap_or(&[]);
    if !line.shell_form {
        // Exec form: the argv is one command; words point at the whole array.
        let start = line.span.start;
        let mut text = String::new();
        let mut words = Vec::new();
        for a in args {
            if !text.is_empty() {
                text.push(' ');
            }
            let s = text.len();
            text.push_str(a);
            words.push(Word {
                text: a.clone(),
                start: s,
                end: text.len(),
            });
        }
        let end = text.len();
        let mut script = Script {
            commands: vec![ShellCommand {
                assigns: Vec::new(),
                words,
                redirects: Vec::new(),
                sep: shell::Sep::Seq,
                piped_in: false,
                pipeline: 0,
                nested: false,
                start: 0,
                end,
                prog: Default::default(),
            }],
        };
        // ["sh", "-c", "script"]: the script's commands too.
        if let [sh, c, body, ..] = args {
            if matches!(shell::basename(sh), "sh" | "bash" | "ash" | "dash" | "zsh")
                && c.starts_with('-')
                && c.ends_with('c')
            {
                let mut inner = shell::parse(body);
                for c in &mut inner.commands {
                    c.nested = true;
                    c.start = 0;
                    c.end = end;
                }
                script.commands.extend(inner.commands);
            }
        }
        return (script, TextMap::fixed(&text, start));
    }
    let text = args.first().map_or("", String::as_str);
    let trimmed = text.trim();
    // `RUN <<EOF` (optionally `RUN <<EOF bash`...): the heredoc body is the script.
    if let Some(body_file) = heredoc_script(trimmed, &line.files) {
        let body = body_file.body();
        let first_line = if line.files.len() == 1 {
            let n = body_file.data.matches('\n').count() as u32;
            ins_end_line.saturating_sub(n).max(line.span.start.line + 1)
        } else {
            line.span.start.line + 1
        };
        return (shell::parse(&body), TextMap::body(&body, first_line));
    }
    let map = TextMap::joined(lines, line.span.start, text, escape);
    (shell::parse(text), map)
}

/// For `RUN <<EOF` (or `RUN sh <<EOF`, `RUN bash -e <<EOF`...) the heredoc that is the
/// script.
fn heredoc_script<'f>(
    text: &str,
    files: &'f [instructions::InlineFile],
) -> Option<&'f instructions::InlineFile> {
    let first = files.first()?;
    let words: Vec<&str> = text.split_whitespace().collect();
    let (marker, before) = words.split_last()?;
    if !marker.starts_with("<<") {
        return None;
    }
    let shell_prefix = before.is_empty()
        || (matches!(
            shell::basename(before[0]),
            "sh" | "bash" | "ash" | "dash" | "zsh"
        ) && before[1..].iter().all(|w| w.starts_with('-')));
    shell_prefix.then_some(first)
}

/// Per instruction (first and last line): the rules its `# kiln-ignore=` comments name.
fn inline_ignores(ast: &Ast) -> Vec<(u32, u32, Vec<String>)> {
    let mut out = Vec::new();
    for node in &ast.nodes {
        let mut names = Vec::new();
        for c in &node.comments {
            let c = c.trim();
            let Some(rest) = c.strip_prefix("kiln-ignore") else {
                continue;
            };
            let Some(list) = rest.trim_start().strip_prefix('=') else {
                continue;
            };
            names.extend(
                list.split([',', ' '])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_ascii_lowercase),
            );
        }
        if !names.is_empty() {
            out.push((node.span.start.line, node.span.end.line, names));
        }
    }
    out
}

fn ignored(ignores: &[(u32, u32, Vec<String>)], f: &Finding) -> bool {
    if f.rule.id == rules::INVALID.id {
        return false;
    }
    let line = f.span.start.line;
    // `ignores` is in file order and instructions do not overlap: only the last one that
    // starts at or before `line` can contain it (a search, not a scan per finding).
    let before = ignores.partition_point(|(a, _, _)| *a <= line);
    ignores[..before].iter().rev().take(1).any(|(a, b, names)| {
        line >= *a
            && line <= *b
            && names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(f.rule.id) || n == f.rule.name || n == "all")
    })
}
