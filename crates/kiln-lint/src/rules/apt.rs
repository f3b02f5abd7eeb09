//! apt and apt-get (Debian, Ubuntu).

use super::pkg::{inv_span, invocations, is_dynamic};
use crate::pass::{Out, RunCx};
use crate::rule::{Rule, Severity};

const APT: &[&str] = &["apt-get", "apt"];
/// apt-get options that take a value.
const WITH_VALUE: &[&str] = &[
    "-o",
    "-t",
    "-c",
    "-a",
    "--option",
    "--target-release",
    "--config-file",
    "--host-architecture",
];
const INSTALL: &[&str] = &["install"];
const LISTS: &str = "/var/lib/apt/lists";

pub(super) static LISTS_NOT_CLEANED: Rule = Rule {
    id: "KL001",
    name: "apt-lists-not-cleaned",
    severity: Severity::Warning,
    summary: "`apt-get update` without removing `/var/lib/apt/lists/*` in the same RUN.",
    message: "`{0} update` leaves the package lists in the image: remove /var/lib/apt/lists/* in the same RUN",
    why: "`apt-get update` downloads package indexes (tens of MB) into `/var/lib/apt/lists`. A later RUN cannot remove them from the layer that added them, so they stay in the image for good. Removing them in the same RUN keeps the layer small.",
    fix: "End the RUN with `&& rm -rf /var/lib/apt/lists/*`, or keep the lists out of the image with a cache mount: `RUN --mount=type=cache,target=/var/lib/apt/lists ...`.",
    hadolint: Some("DL3009"),
    buildkit: None,
};

pub(super) static NO_INSTALL_RECOMMENDS: Rule = Rule {
    id: "KL002",
    name: "apt-no-install-recommends",
    severity: Severity::Info,
    summary: "`apt-get install` without `--no-install-recommends`.",
    message: "`{0} install` also installs recommended packages: add --no-install-recommends",
    why: "By default apt installs every package that the requested ones *recommend*. They are rarely needed in a container and often double the size of what gets installed.",
    fix: "Add `--no-install-recommends` to `apt-get install` and list anything you really need explicitly.",
    hadolint: Some("DL3015"),
    buildkit: None,
};

pub(super) static UNPINNED: Rule = Rule {
    id: "KL003",
    name: "apt-unpinned",
    severity: Severity::Warning,
    summary: "`apt-get install` of a package without a version (`pkg=version`).",
    message: "apt package `{0}` has no pinned version",
    why: "Without a version the build installs whatever the mirror has that day: two builds of the same Dockerfile can differ, and an update can break the image without any change in the repository.",
    fix: "Pin the version: `apt-get install curl=7.88.1-10+deb12u5`. `apt-cache policy PACKAGE` shows the available versions.",
    hadolint: Some("DL3008"),
    buildkit: None,
};

pub(super) static UPGRADE: Rule = Rule {
    id: "KL004",
    name: "apt-upgrade",
    severity: Severity::Warning,
    summary: "`apt-get upgrade` / `dist-upgrade` / `full-upgrade` in a RUN.",
    message: "`{0} {1}` upgrades every package of the base image",
    why: "Upgrading all packages makes the image depend on the day it was built, adds a large layer on top of the base image, and can break programs the base image was tested with. Security fixes belong in a newer base image.",
    fix: "Use a newer (or pinned, regularly updated) base image tag; install only the specific packages you need, with pinned versions.",
    hadolint: None,
    buildkit: None,
};

pub(super) static MISSING_YES: Rule = Rule {
    id: "KL005",
    name: "apt-missing-yes",
    severity: Severity::Warning,
    summary: "`apt-get install` without `-y`.",
    message: "`{0} install` without -y waits for confirmation and fails in a build",
    why: "A build has no terminal to answer apt's \"Do you want to continue?\" prompt: without `-y` apt aborts as soon as it has to ask.",
    fix: "Add `-y` (or `--yes`, `--assume-yes`, `-qq`).",
    hadolint: Some("DL3014"),
    buildkit: None,
};

pub(super) static APT_NOT_APT_GET: Rule = Rule {
    id: "KL006",
    name: "apt-instead-of-apt-get",
    severity: Severity::Warning,
    summary: "`apt` used in a RUN instead of `apt-get` / `apt-cache`.",
    message: "`apt` is meant for people at a terminal: use apt-get or apt-cache in scripts",
    why: "`apt` has no stable command-line interface (its own warning says so), prints progress bars meant for a terminal, and may change behaviour between releases.",
    fix: "Use `apt-get` (install, update, remove) or `apt-cache` (search, policy).",
    hadolint: Some("DL3027"),
    buildkit: None,
};

pub(super) static UPDATE_ALONE: Rule = Rule {
    id: "KL007",
    name: "apt-update-alone",
    severity: Severity::Warning,
    summary: "`apt-get update` in a RUN that installs nothing.",
    message: "`{0} update` without an install in the same RUN: the cached package lists go stale",
    why: "The build cache keeps a RUN that only updates the lists; a later `apt-get install` in another RUN then uses lists from whenever that layer was first built, and fails when the mirror has moved on. It also leaves the lists in a layer of their own.",
    fix: "Update and install in one RUN: `RUN apt-get update && apt-get install -y --no-install-recommends PKG && rm -rf /var/lib/apt/lists/*`.",
    hadolint: None,
    buildkit: None,
};

pub(super) static RULES: &[&Rule] = &[
    &LISTS_NOT_CLEANED,
    &NO_INSTALL_RECOMMENDS,
    &UNPINNED,
    &UPGRADE,
    &MISSING_YES,
    &APT_NOT_APT_GET,
    &UPDATE_ALONE,
];

/// The checks of one RUN.
pub(super) fn check(run: &RunCx<'_>, out: &mut Out) {
    let updates = invocations(run, APT, &["update"], WITH_VALUE);
    let installs = invocations(run, APT, INSTALL, WITH_VALUE);
    let lists_cleaned = run.removes(&[LISTS]) || run.cache_mount(&[LISTS]);
    for u in &updates {
        let prog = u.cmd.program().unwrap_or("apt-get");
        if !lists_cleaned {
            out.emit(&LISTS_NOT_CLEANED, inv_span(run, u), &[prog]);
        }
    }
    if let Some(u) = updates.first() {
        let installs_any = !installs.is_empty()
            || !invocations(
                run,
                APT,
                &[
                    "upgrade",
                    "dist-upgrade",
                    "full-upgrade",
                    "build-dep",
                    "satisfy",
                ],
                WITH_VALUE,
            )
            .is_empty();
        if !installs_any {
            out.emit(
                &UPDATE_ALONE,
                inv_span(run, u),
                &[u.cmd.program().unwrap_or("apt-get")],
            );
        }
    }
    for inv in &installs {
        let prog = inv.cmd.program().unwrap_or("apt-get");
        let span = inv_span(run, inv);
        let no_rec = inv.cmd.has_arg(&["--no-install-recommends"])
            || inv.cmd.args().iter().any(|w| {
                let t = w.text.to_ascii_lowercase();
                t.contains("install-recommends=false") || t.contains("install-recommends=0")
            });
        if !no_rec {
            out.emit(&NO_INSTALL_RECOMMENDS, span, &[prog]);
        }
        let yes = inv
            .cmd
            .has_flag(&['y'], &["yes", "assume-yes", "force-yes"])
            || inv.cmd.args().iter().any(|w| {
                matches!(w.text.as_str(), "-qq" | "-q=2" | "--quiet=2")
                    || w.text.to_ascii_lowercase().contains("assume-yes=true")
            });
        if !yes {
            out.emit(&MISSING_YES, span, &[prog]);
        }
        for p in &inv.operands {
            if is_dynamic(p) || p.text.contains('=') || p.text.ends_with(".deb") {
                continue;
            }
            out.emit(&UNPINNED, run.word_span(p), &[&p.text]);
        }
    }
    for inv in invocations(
        run,
        APT,
        &["upgrade", "dist-upgrade", "full-upgrade"],
        WITH_VALUE,
    ) {
        out.emit(
            &UPGRADE,
            inv_span(run, &inv),
            &[inv.cmd.program().unwrap_or("apt-get"), &inv.sub.text],
        );
    }
    for cmd in run.commands(&["apt"]) {
        out.emit(&APT_NOT_APT_GET, run.program_span(cmd), &[]);
    }
}
