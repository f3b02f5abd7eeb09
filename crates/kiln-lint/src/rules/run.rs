//! RUN as a whole: layering, shell habits, piping downloads into shells.

use crate::pass::{Cx, Out, RunCx};
use crate::rule::{Rule, Severity};
use crate::shell::{basename, Command, Sep};
use kiln_dockerfile::instructions::Command as Ins;

pub(super) static CONSECUTIVE: Rule = Rule {
    id: "KL050",
    name: "consecutive-run",
    severity: Severity::Info,
    summary: "Two RUN instructions in a row, each a single command with the same flags.",
    message: "consecutive RUN instructions: join them with && into one RUN",
    why: "Each RUN makes a layer. Single commands in a row (`RUN a` then `RUN b`) add layers, and files deleted by the second stay in the first. Joined, they make one layer and one cache step.",
    fix: "Join the commands: `RUN a && b`. Keep RUNs apart deliberately only when they have different flags or when you want a separate cache step.",
    hadolint: Some("DL3059"),
    buildkit: None,
};

pub(super) static CD: Rule = Rule {
    id: "KL051",
    name: "cd-in-run",
    severity: Severity::Warning,
    summary: "`cd` in a RUN instead of WORKDIR.",
    message: "use WORKDIR to switch to a directory instead of `cd`",
    why: "A `cd` lasts only until the end of its RUN, which makes the following instructions depend on where the previous ones ran. WORKDIR is explicit, lasts for the rest of the stage, and creates the directory when needed.",
    fix: "Replace `RUN cd /src && make` with `WORKDIR /src` and `RUN make`; for a one-off directory use `make -C /src` or a subshell-free tool option.",
    hadolint: Some("DL3003"),
    buildkit: None,
};

pub(super) static SUDO: Rule = Rule {
    id: "KL052",
    name: "sudo",
    severity: Severity::Error,
    summary: "`sudo` in a RUN.",
    message: "do not use sudo in a Dockerfile",
    why: "RUN already runs as the current USER; `sudo` needs a TTY and a sudoers configuration in the image, and makes privilege changes hard to follow. It also has to be installed, which adds a setuid binary to the image.",
    fix: "Switch users with `USER root` before the commands that need it and `USER app` after; at run time use `gosu` or `su-exec` in an entrypoint if you need to drop privileges.",
    hadolint: Some("DL3004"),
    buildkit: None,
};

pub(super) static CURL_PIPE_SHELL: Rule = Rule {
    id: "KL053",
    name: "curl-pipe-shell",
    severity: Severity::Warning,
    summary: "A download piped straight into a shell (`curl ... | sh`).",
    message: "`{0}` output is run by `{1}` without being checked",
    why: "Piping a download into a shell runs whatever the server sends at build time: a compromised or changed script runs as root in your build, and a truncated download can run half a script. Nothing pins what was run.",
    fix: "Download to a file, verify it against a known checksum, then run it: `curl -fsSLo install.sh URL && echo \"SHA256  install.sh\" | sha256sum -c - && sh install.sh`. Or use `ADD --checksum=sha256:... URL /tmp/install.sh`.",
    hadolint: None,
    buildkit: None,
};

pub(super) static PIPEFAIL: Rule = Rule {
    id: "KL054",
    name: "missing-pipefail",
    severity: Severity::Warning,
    summary: "A pipe in RUN without `set -o pipefail` (SHELL or in the command).",
    message: "the pipe's exit status is that of its last command: set -o pipefail",
    why: "A shell pipeline succeeds when its *last* command succeeds. `RUN curl -fsSL URL | tar xz` passes when curl fails but tar is happy with empty input, and the build goes on with a broken image.",
    fix: "Set the option for the whole stage: `SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]` before the RUN (on Alpine use `/bin/ash`), or start the command with `set -o pipefail &&` when the shell supports it.",
    hadolint: Some("DL4006"),
    buildkit: None,
};

pub(super) static SHELL_SYMLINK: Rule = Rule {
    id: "KL055",
    name: "shell-symlink",
    severity: Severity::Warning,
    summary: "`ln -s` over `/bin/sh` to change the default shell.",
    message: "replacing /bin/sh changes the shell for every program in the image: use SHELL",
    why: "Symlinking another shell over `/bin/sh` silently changes how every script and package hook in the image runs, not just the Dockerfile's RUN commands.",
    fix: "Use the SHELL instruction: `SHELL [\"/bin/bash\", \"-c\"]`.",
    hadolint: Some("DL4005"),
    buildkit: None,
};

pub(super) static RULES: &[&Rule] = &[
    &CONSECUTIVE,
    &CD,
    &SUDO,
    &CURL_PIPE_SHELL,
    &PIPEFAIL,
    &SHELL_SYMLINK,
];

const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "ash", "dash", "ksh", "python", "python3", "perl", "ruby", "node",
];
const DOWNLOADERS: &[&str] = &["curl", "wget"];

fn top_level_count(run: &RunCx<'_>) -> usize {
    run.script.commands.iter().filter(|c| !c.nested).count()
}

type Flags<'r> = (Vec<&'r str>, Option<&'r str>, Option<&'r str>);

fn flags_of<'r>(run: &'r RunCx<'_>) -> Flags<'r> {
    (
        run.run.mounts.iter().map(|t| t.value.as_str()).collect(),
        run.run.network.as_ref().map(|t| t.value.as_str()),
        run.run.security.as_ref().map(|t| t.value.as_str()),
    )
}

/// For every RUN (in order), the SHELL in force (following base stages).
pub(super) fn shells(cx: &Cx<'_>) -> Vec<Option<Vec<String>>> {
    cx.state_at_runs(None, |cur, cmd| {
        if let Ins::Shell { shell } = cmd {
            *cur = Some(shell.clone());
        }
    })
}

fn pipefail_in(words: &[String]) -> bool {
    words.windows(2).any(|w| {
        w[0].starts_with('-')
            && !w[0].starts_with("--")
            && w[0].ends_with('o')
            && w[1] == "pipefail"
    })
}

/// The checks of one RUN: `before` is the RUN before it, `shell` the SHELL in force (from
/// [`shells`]).
pub(super) fn check(
    run: &RunCx<'_>,
    before: Option<&RunCx<'_>>,
    shell: Option<&Option<Vec<String>>>,
    out: &mut Out,
) {
    if let Some(before) = before {
        consecutive(before, run, out);
    }
    for c in &run.script.commands {
        command(run, c, out);
    }
    downloads_piped_to_shell(run, out);
    pipes_without_pipefail(run, shell, out);
}

/// Consecutive single-command RUNs with the same flags.
fn consecutive(a: &RunCx<'_>, b: &RunCx<'_>, out: &mut Out) {
    if a.stage == b.stage
        && a.index + 1 == b.index
        && top_level_count(a) == 1
        && top_level_count(b) == 1
        && flags_of(a) == flags_of(b)
    {
        out.emit(&CONSECUTIVE, b.ins.keyword.span, &[]);
    }
}

/// The checks of one simple command: sudo, cd, ln -s .. /bin/sh, sh -c "$(curl ...)".
fn command(run: &RunCx<'_>, c: &Command, out: &mut Out) {
    if c.words.first().is_some_and(|w| basename(&w.text) == "sudo") {
        if let Some(w) = c.words.first() {
            out.emit(&SUDO, run.word_span(w), &[]);
        }
    }
    let Some(prog) = c.program() else { return };
    if prog == "cd" && !c.nested {
        out.emit(&CD, run.program_span(c), &[]);
    }
    if prog == "ln" {
        let ops = c.operands(0, &[]);
        if c.has_flag(&['s'], &["symbolic"]) && ops.last().is_some_and(|w| w.text == "/bin/sh") {
            out.emit(&SHELL_SYMLINK, run.cmd_span(c), &[]);
        }
    }
    if SHELLS.contains(&prog) {
        // sh -c "$(curl ...)" and bash <(curl ...)
        for w in c.args() {
            for d in DOWNLOADERS {
                if [format!("$({d} "), format!("`{d} "), format!("<({d} ")]
                    .iter()
                    .any(|p| w.text.contains(p.as_str()))
                {
                    out.emit(&CURL_PIPE_SHELL, run.cmd_span(c), &[d, prog]);
                }
            }
        }
    }
}

/// curl ... | sh
fn downloads_piped_to_shell(run: &RunCx<'_>, out: &mut Out) {
    let cmds = &run.script.commands;
    for (i, c) in cmds.iter().enumerate() {
        let Some(prog) = c.program() else { continue };
        if !DOWNLOADERS.contains(&prog) || c.sep != Sep::Pipe {
            continue;
        }
        let rest = cmds[i + 1..]
            .iter()
            .take_while(|n| n.pipeline == c.pipeline && n.piped_in);
        for n in rest {
            if let Some(sh) = n.program().filter(|p| SHELLS.contains(p)) {
                let span = run.program_span(c).to(run.program_span(n));
                out.emit(&CURL_PIPE_SHELL, span, &[prog, sh]);
                break;
            }
        }
    }
}

/// Pipes in a shell-form RUN whose shell (`shell`: the SHELL in force, if known) does not
/// fail on a failing pipe stage, and no `set -o pipefail` before the first pipe.
fn pipes_without_pipefail(run: &RunCx<'_>, shell: Option<&Option<Vec<String>>>, out: &mut Out) {
    if !run.run.command.shell_form || !run.script.has_pipe() {
        return;
    }
    if let Some(Some(shell)) = shell {
        let exe = shell
            .first()
            .map(|s| basename(s).to_ascii_lowercase())
            .unwrap_or_default();
        if pipefail_in(shell)
            || exe.starts_with("pwsh")
            || exe.starts_with("powershell")
            || exe.starts_with("cmd")
        {
            return;
        }
    }
    let cmds = &run.script.commands;
    let first_pipe = cmds.iter().position(|c| !c.nested && c.sep == Sep::Pipe);
    let set_before = cmds.iter().take(first_pipe.unwrap_or(0)).any(|c| {
        c.program() == Some("set")
            && pipefail_in(&c.args().iter().map(|w| w.text.clone()).collect::<Vec<_>>())
    });
    if set_before {
        return;
    }
    if let Some(c) = first_pipe.and_then(|i| cmds.get(i)) {
        let next = cmds.iter().skip_while(|n| !std::ptr::eq(*n, c)).nth(1);
        let span = match next {
            Some(n) => run.cmd_span(c).to(run.cmd_span(n)),
            None => run.cmd_span(c),
        };
        out.emit(&PIPEFAIL, span, &[]);
    }
}
