//! apk (Alpine).

use super::pkg::{inv_span, invocations, is_dynamic};
use crate::pass::{Out, RunCx};
use crate::rule::{Rule, Severity};

const WITH_VALUE: &[&str] = &[
    "-t",
    "--virtual",
    "-X",
    "--repository",
    "-p",
    "--root",
    "--arch",
    "--cache-dir",
    "--keys-dir",
    "--repositories-file",
    "--cache-max-age",
];

pub(super) static NO_CACHE: Rule = Rule {
    id: "KL010",
    name: "apk-no-cache",
    severity: Severity::Warning,
    summary: "`apk add` without `--no-cache` (and without removing `/var/cache/apk`).",
    message: "`apk add` keeps the package index in the image: use apk add --no-cache",
    why: "Without `--no-cache`, apk stores the downloaded package index under `/var/cache/apk`, and it stays in the layer. `--no-cache` fetches the index to a temporary place and removes it, and makes a separate `apk update` unnecessary.",
    fix: "Write `apk add --no-cache PKG`. Removing `/var/cache/apk/*` in the same RUN, or a cache mount on `/var/cache/apk`, also passes.",
    hadolint: Some("DL3019"),
    buildkit: None,
};

pub(super) static UNPINNED: Rule = Rule {
    id: "KL011",
    name: "apk-unpinned",
    severity: Severity::Warning,
    summary: "`apk add` of a package without a version (`pkg=version`).",
    message: "apk package `{0}` has no pinned version",
    why: "Without a version the build takes whatever the Alpine mirror has that day, so rebuilding the same Dockerfile can give a different image.",
    fix: "Pin the version: `apk add --no-cache curl=8.5.0-r0` (or a range such as `curl~8.5`).",
    hadolint: Some("DL3018"),
    buildkit: None,
};

pub(super) static UPGRADE: Rule = Rule {
    id: "KL012",
    name: "apk-upgrade",
    severity: Severity::Info,
    summary: "`apk upgrade` in a RUN.",
    message: "`apk upgrade` upgrades every package of the base image",
    why: "Upgrading everything makes the image depend on the day of the build and duplicates the base image's files in a new layer.",
    fix: "Use a newer base image tag instead, and install only specific pinned packages.",
    hadolint: None,
    buildkit: None,
};

pub(super) static RULES: &[&Rule] = &[&NO_CACHE, &UNPINNED, &UPGRADE];

/// The checks of one RUN.
pub(super) fn check(run: &RunCx<'_>, out: &mut Out) {
    let cleaned =
        run.removes(&["/var/cache/apk"]) || run.cache_mount(&["/var/cache/apk", "/etc/apk/cache"]);
    for inv in invocations(run, &["apk"], &["add"], WITH_VALUE) {
        if !inv.cmd.has_arg(&["--no-cache"]) && !cleaned {
            out.emit(&NO_CACHE, inv_span(run, &inv), &[]);
        }
        for p in &inv.operands {
            let t = p.text.as_str();
            if is_dynamic(p) || t.contains(['=', '~', '<', '>']) || t.ends_with(".apk") {
                continue;
            }
            out.emit(&UNPINNED, run.word_span(p), &[t]);
        }
    }
    for inv in invocations(run, &["apk"], &["upgrade"], WITH_VALUE) {
        out.emit(&UPGRADE, inv_span(run, &inv), &[]);
    }
}
