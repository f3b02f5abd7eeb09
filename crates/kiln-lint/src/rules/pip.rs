//! pip (`pip`, `pip3`, `pip3.12`, `python -m pip`).

use crate::pass::{Cx, Out, RunCx};
use crate::rule::{Rule, Severity};
use crate::shell::{Command, Word};
use kiln_dockerfile::instructions::Command as Ins;

const WITH_VALUE: &[&str] = &[
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--trusted-host",
    "--src",
    "--upgrade-strategy",
    "--progress-bar",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--cache-dir",
    "-C",
    "--config-settings",
    "--global-option",
    "--no-binary",
    "--only-binary",
    "--python",
    "--report",
];

pub(super) static NO_CACHE_DIR: Rule = Rule {
    id: "KL040",
    name: "pip-no-cache-dir",
    severity: Severity::Warning,
    summary: "`pip install` without `--no-cache-dir` (or `pip cache purge`).",
    message: "`pip install` keeps downloaded wheels in ~/.cache/pip: add --no-cache-dir",
    why: "pip caches every downloaded archive and built wheel under `~/.cache/pip`. In an image the cache is never used again but stays in the layer, often tens of MB.",
    fix: "Add `--no-cache-dir`, set `ENV PIP_NO_CACHE_DIR=1`, run `pip cache purge` (or remove `~/.cache/pip`) in the same RUN, or use `--mount=type=cache,target=/root/.cache/pip`.",
    hadolint: Some("DL3042"),
    buildkit: None,
};

pub(super) static UNPINNED: Rule = Rule {
    id: "KL041",
    name: "pip-unpinned",
    severity: Severity::Warning,
    summary: "`pip install` of a package without a version specifier.",
    message: "Python package `{0}` has no pinned version",
    why: "Without a version, each build installs the newest release; a new release of a dependency can break the image without any change in your repository.",
    fix: "Pin versions (`pip install flask==3.0.2`), or install from a pinned requirements file: `pip install -r requirements.txt`.",
    hadolint: Some("DL3013"),
    buildkit: None,
};

pub(super) static RULES: &[&Rule] = &[&NO_CACHE_DIR, &UNPINNED];

fn is_pip(name: &str) -> bool {
    name.strip_prefix("pip")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// The arguments after `pip` (for `pip ...` and `python -m pip ...`).
fn pip_args(cmd: &Command) -> Option<&[Word]> {
    let name = cmd.program()?;
    let args = cmd.args();
    if is_pip(name) {
        return Some(args);
    }
    let python = name
        .strip_prefix("python")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'));
    if python {
        let m = args.iter().position(|w| w.text == "-m")?;
        if args.get(m + 1).is_some_and(|w| is_pip(&w.text)) {
            return args.get(m + 2..);
        }
    }
    None
}

/// For every RUN (in order): is `ENV PIP_NO_CACHE_DIR` set before it (following base
/// stages)?
pub(super) fn env_no_cache(cx: &Cx<'_>) -> Vec<bool> {
    cx.state_at_runs(false, |cur, cmd| {
        if let Ins::Env { env } = cmd {
            for kv in env.iter().filter(|kv| kv.key.value == "PIP_NO_CACHE_DIR") {
                *cur = !matches!(
                    kv.value.value.to_ascii_lowercase().as_str(),
                    "" | "0" | "false" | "off" | "no"
                );
            }
        }
    })
}

fn version_given(t: &str) -> bool {
    t.contains(['=', '<', '>', '~', '@', '/'])
        || t.starts_with('.')
        || [".whl", ".tar.gz", ".zip", ".tgz"]
            .iter()
            .any(|s| t.ends_with(s))
        || t.contains("://")
}

/// The checks of one RUN; `no_cache_env`: whether `ENV PIP_NO_CACHE_DIR` is set before it
/// (from [`env_no_cache`]).
pub(super) fn check(run: &RunCx<'_>, no_cache_env: bool, out: &mut Out) {
    let purged = run.script.commands.iter().any(|c| {
        pip_args(c).is_some_and(|a| {
            a.first().is_some_and(|w| w.text == "cache") && a.iter().any(|w| w.text == "purge")
        })
    }) || run.removes(&[".cache/pip", ".cache"])
        || run.cache_mount(&["/root/.cache/pip", "/root/.cache"])
        || no_cache_env;
    for cmd in &run.script.commands {
        let Some(args) = pip_args(cmd) else { continue };
        // The subcommand: first non-option word.
        let mut i = 0;
        while let Some(w) = args.get(i) {
            if !w.text.starts_with('-') {
                break;
            }
            i += if WITH_VALUE.contains(&w.text.as_str()) {
                2
            } else {
                1
            };
        }
        let Some(sub) = args.get(i) else { continue };
        if sub.text != "install" {
            continue;
        }
        let inline_env = cmd
            .assigns
            .iter()
            .any(|a| a.text.starts_with("PIP_NO_CACHE_DIR="));
        let has = |n: &str| {
            args.iter()
                .any(|w| w.text == n || w.text.starts_with(&format!("{n}=")))
        };
        if !purged && !inline_env && !has("--no-cache-dir") {
            let span = run.program_span(cmd).to(run.word_span(sub));
            out.emit(&NO_CACHE_DIR, span, &[]);
        }
        // Operands.
        let mut k = i + 1;
        let mut after_dashdash = false;
        while let Some(w) = args.get(k) {
            k += 1;
            let t = w.text.as_str();
            if !after_dashdash && t == "--" {
                after_dashdash = true;
                continue;
            }
            if !after_dashdash && t.starts_with('-') {
                if WITH_VALUE.contains(&t) {
                    k += 1;
                }
                continue;
            }
            if t.contains('$') || t.contains('`') || version_given(t) {
                continue;
            }
            out.emit(&UNPINNED, run.word_span(w), &[t]);
        }
    }
}
