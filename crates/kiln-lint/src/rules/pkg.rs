//! Shared helpers for package-manager rules.

use crate::pass::RunCx;
use crate::shell::{Command, Word};

/// A package-manager invocation: the command, its subcommand and its operands.
pub(crate) struct Invocation<'a> {
    pub cmd: &'a Command,
    pub sub: &'a Word,
    /// Non-option arguments after the subcommand.
    pub operands: Vec<&'a Word>,
}

/// Invocations of `progs` whose subcommand is one of `subs` (`with_value`: options that
/// take the next word as their value).
pub(crate) fn invocations<'a>(
    run: &'a RunCx<'_>,
    progs: &[&str],
    subs: &[&str],
    with_value: &[&str],
) -> Vec<Invocation<'a>> {
    let mut out = Vec::new();
    let matching = run
        .script
        .commands
        .iter()
        .filter(|c| c.program().is_some_and(|p| progs.contains(&p)));
    for cmd in matching {
        let Some((i, sub)) = cmd.subcommand(with_value) else {
            continue;
        };
        if !subs.contains(&sub.text.as_str()) {
            continue;
        }
        out.push(Invocation {
            cmd,
            sub,
            operands: cmd.operands(i + 1, with_value),
        });
    }
    out
}

/// Is a word a variable or substitution whose value is unknown (`$PKGS`)?
pub(crate) fn is_dynamic(w: &Word) -> bool {
    w.text.contains('$') || w.text.contains('`')
}

/// Span from the program word to the subcommand.
pub(crate) fn inv_span(run: &RunCx<'_>, inv: &Invocation<'_>) -> kiln_dockerfile::Span {
    run.program_span(inv.cmd).to(run.word_span(inv.sub))
}
