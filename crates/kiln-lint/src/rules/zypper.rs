//! zypper (openSUSE, SLES).

use super::pkg::{inv_span, invocations, is_dynamic};
use crate::pass::{Out, RunCx};
use crate::rule::{Rule, Severity};

const WITH_VALUE: &[&str] = &[
    "-r",
    "--repo",
    "--root",
    "-R",
    "--reposd-root",
    "-D",
    "--cache-dir",
    "-C",
    "--config",
    "-t",
    "--type",
];
const INSTALL: &[&str] = &["install", "in"];

pub(super) static NOT_CLEANED: Rule = Rule {
    id: "KL030",
    name: "zypper-not-cleaned",
    severity: Severity::Warning,
    summary: "`zypper install` without `zypper clean` in the same RUN.",
    message: "`zypper {0}` leaves its cache in the image: add `zypper clean --all`",
    why: "zypper keeps repository metadata and packages under `/var/cache/zypp`; they stay in the layer that wrote them.",
    fix: "End the RUN with `&& zypper clean --all` (or `zypper cc -a`).",
    hadolint: Some("DL3036"),
    buildkit: None,
};

pub(super) static MISSING_YES: Rule = Rule {
    id: "KL031",
    name: "zypper-missing-yes",
    severity: Severity::Warning,
    summary: "`zypper install` without `-n` / `-y`.",
    message: "`zypper {0}` is interactive: add --non-interactive (-n) or -y",
    why: "A build cannot answer zypper's prompts; without a non-interactive switch it aborts.",
    fix: "Write `zypper --non-interactive install PKG` or `zypper install -y PKG`.",
    hadolint: Some("DL3034"),
    buildkit: None,
};

pub(super) static UNPINNED: Rule = Rule {
    id: "KL032",
    name: "zypper-unpinned",
    severity: Severity::Warning,
    summary: "`zypper install` of a package without a version (`pkg=version`).",
    message: "zypper package `{0}` has no pinned version",
    why: "Without a version, rebuilding the same Dockerfile can install different packages.",
    fix: "Pin the version: `zypper install -y httpd=2.4.51` (or `>=`, `<=` ranges).",
    hadolint: Some("DL3037"),
    buildkit: None,
};

pub(super) static DIST_UPGRADE: Rule = Rule {
    id: "KL033",
    name: "zypper-dist-upgrade",
    severity: Severity::Warning,
    summary: "`zypper dist-upgrade` (`dup`) in a RUN.",
    message: "`zypper {0}` upgrades the whole distribution inside the image",
    why: "A distribution upgrade inside a build replaces most of the base image's files, making the image large and dependent on the day of the build.",
    fix: "Use a base image of the distribution release you need.",
    hadolint: Some("DL3035"),
    buildkit: None,
};

pub(super) static RULES: &[&Rule] = &[&NOT_CLEANED, &MISSING_YES, &UNPINNED, &DIST_UPGRADE];

/// The checks of one RUN.
pub(super) fn check(run: &RunCx<'_>, out: &mut Out) {
    let cleaned = run.removes(&["/var/cache/zypp"])
        || run.cache_mount(&["/var/cache/zypp"])
        || !invocations(run, &["zypper"], &["clean", "cc"], WITH_VALUE).is_empty();
    for inv in invocations(run, &["zypper"], INSTALL, WITH_VALUE) {
        let span = inv_span(run, &inv);
        if !cleaned {
            out.emit(&NOT_CLEANED, span, &[&inv.sub.text]);
        }
        if !inv
            .cmd
            .has_flag(&['n', 'y'], &["non-interactive", "no-confirm"])
        {
            out.emit(&MISSING_YES, span, &[&inv.sub.text]);
        }
        for p in &inv.operands {
            let t = p.text.as_str();
            if is_dynamic(p) || t.contains(['=', '<', '>']) || t.ends_with(".rpm") {
                continue;
            }
            out.emit(&UNPINNED, run.word_span(p), &[t]);
        }
    }
    for inv in invocations(run, &["zypper"], &["dist-upgrade", "dup"], WITH_VALUE) {
        out.emit(&DIST_UPGRADE, inv_span(run, &inv), &[&inv.sub.text]);
    }
}
