//! yum, dnf and microdnf (Fedora, RHEL, CentOS, UBI, Amazon Linux).

use super::pkg::{inv_span, invocations, is_dynamic};
use crate::pass::{Out, RunCx};
use crate::rule::{Rule, Severity};

const WITH_VALUE: &[&str] = &[
    "-c",
    "--config",
    "--installroot",
    "--releasever",
    "--setopt",
    "--enablerepo",
    "--disablerepo",
    "-x",
    "--exclude",
    "--repo",
    "--repoid",
    "--nodocs-x",
    "--downloaddir",
    "--destdir",
];
const INSTALL: &[&str] = &["install", "groupinstall", "localinstall", "reinstall"];

pub(super) static YUM_NOT_CLEANED: Rule = Rule {
    id: "KL020",
    name: "yum-not-cleaned",
    severity: Severity::Warning,
    summary: "`yum install` without `yum clean all` in the same RUN.",
    message: "`{0} {1}` leaves its metadata and package cache in the image: add `yum clean all`",
    why: "yum keeps repository metadata and downloaded packages under `/var/cache/yum`; a later RUN cannot shrink the layer that wrote them.",
    fix: "End the RUN with `&& yum clean all` (and `rm -rf /var/cache/yum` for good measure).",
    hadolint: Some("DL3032"),
    buildkit: None,
};

pub(super) static YUM_MISSING_YES: Rule = Rule {
    id: "KL021",
    name: "yum-missing-yes",
    severity: Severity::Warning,
    summary: "`yum install` without `-y`.",
    message: "`{0} {1}` without -y waits for confirmation and fails in a build",
    why: "A build cannot answer yum's confirmation prompt.",
    fix: "Add `-y` (or `--assumeyes`).",
    hadolint: Some("DL3030"),
    buildkit: None,
};

pub(super) static YUM_UNPINNED: Rule = Rule {
    id: "KL022",
    name: "yum-unpinned",
    severity: Severity::Warning,
    summary: "`yum install` of a package without a version (`pkg-version`).",
    message: "yum package `{0}` has no pinned version",
    why: "Without a version, rebuilding the same Dockerfile can install different packages.",
    fix: "Pin the version: `yum install -y httpd-2.4.6`.",
    hadolint: Some("DL3033"),
    buildkit: None,
};

pub(super) static DNF_NOT_CLEANED: Rule = Rule {
    id: "KL023",
    name: "dnf-not-cleaned",
    severity: Severity::Warning,
    summary: "`dnf install` / `microdnf install` without `dnf clean all` in the same RUN.",
    message: "`{0} {1}` leaves its metadata and package cache in the image: add `{0} clean all`",
    why: "dnf and microdnf keep repository metadata and packages under `/var/cache/dnf` (or `/var/cache/yum`); the layer keeps them even if a later RUN deletes them.",
    fix: "End the RUN with `&& dnf clean all` (`microdnf clean all` on UBI minimal images).",
    hadolint: Some("DL3040"),
    buildkit: None,
};

pub(super) static DNF_MISSING_YES: Rule = Rule {
    id: "KL024",
    name: "dnf-missing-yes",
    severity: Severity::Warning,
    summary: "`dnf install` / `microdnf install` without `-y`.",
    message: "`{0} {1}` without -y waits for confirmation and fails in a build",
    why: "A build cannot answer dnf's confirmation prompt.",
    fix: "Add `-y` (or `--assumeyes`).",
    hadolint: Some("DL3038"),
    buildkit: None,
};

pub(super) static DNF_UNPINNED: Rule = Rule {
    id: "KL025",
    name: "dnf-unpinned",
    severity: Severity::Warning,
    summary: "`dnf install` / `microdnf install` of a package without a version.",
    message: "dnf package `{0}` has no pinned version",
    why: "Without a version, rebuilding the same Dockerfile can install different packages.",
    fix: "Pin the version: `dnf install -y httpd-2.4.57`.",
    hadolint: Some("DL3041"),
    buildkit: None,
};

pub(super) static RULES: &[&Rule] = &[
    &YUM_NOT_CLEANED,
    &YUM_MISSING_YES,
    &YUM_UNPINNED,
    &DNF_NOT_CLEANED,
    &DNF_MISSING_YES,
    &DNF_UNPINNED,
];

/// `name-1.2`, `name-1.2-3.el9`, `name-0:1.2`: a dash followed by a digit, or an .rpm file.
fn pinned(p: &str) -> bool {
    p.ends_with(".rpm")
        || p.contains('/')
        || p.contains(['=', '<', '>'])
        || p.match_indices('-')
            .any(|(i, _)| p[i + 1..].starts_with(|c: char| c.is_ascii_digit()))
}

fn family(run: &RunCx<'_>, out: &mut Out, progs: &[&str], rules: [&'static Rule; 3]) {
    let [clean, yes, unpinned] = rules;
    let cleaned = run.removes(&["/var/cache/yum", "/var/cache/dnf"])
        || run.cache_mount(&["/var/cache/yum", "/var/cache/dnf"])
        || invocations(run, progs, &["clean"], WITH_VALUE)
            .iter()
            .any(|i| i.operands.iter().any(|w| w.text == "all"));
    for inv in invocations(run, progs, INSTALL, WITH_VALUE) {
        let prog = inv.cmd.program().unwrap_or(progs[0]);
        let span = inv_span(run, &inv);
        if !cleaned {
            out.emit(clean, span, &[prog, &inv.sub.text]);
        }
        if !inv.cmd.has_flag(&['y'], &["assumeyes"]) && prog != "microdnf" {
            out.emit(yes, span, &[prog, &inv.sub.text]);
        }
        if inv.sub.text == "groupinstall" || inv.sub.text == "localinstall" {
            continue;
        }
        for p in &inv.operands {
            if is_dynamic(p) || pinned(&p.text) || p.text.starts_with('@') {
                continue;
            }
            out.emit(unpinned, run.word_span(p), &[&p.text]);
        }
    }
}

/// The checks of one RUN.
pub(super) fn check(run: &RunCx<'_>, out: &mut Out) {
    family(
        run,
        out,
        &["yum"],
        [&YUM_NOT_CLEANED, &YUM_MISSING_YES, &YUM_UNPINNED],
    );
    family(
        run,
        out,
        &["dnf", "microdnf"],
        [&DNF_NOT_CLEANED, &DNF_MISSING_YES, &DNF_UNPINNED],
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn pins() {
        assert!(super::pinned("httpd-2.4.6"));
        assert!(super::pinned("x.rpm"));
        assert!(!super::pinned("httpd-tools"));
        assert!(!super::pinned("python3"));
    }
}
