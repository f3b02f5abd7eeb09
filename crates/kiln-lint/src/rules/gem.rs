//! RubyGems and Bundler.

use super::pkg::{inv_span, invocations, is_dynamic};
use crate::pass::{Out, RunCx};
use crate::rule::{Rule, Severity};

const WITH_VALUE: &[&str] = &[
    "-v",
    "--version",
    "-i",
    "--install-dir",
    "-n",
    "--bindir",
    "-s",
    "--source",
    "--platform",
    "-P",
    "--trust-policy",
    "-g",
    "--file",
];

pub(super) static UNPINNED: Rule = Rule {
    id: "KL045",
    name: "gem-unpinned",
    severity: Severity::Warning,
    summary: "`gem install GEM` without a version (`GEM:version` or `-v`).",
    message: "gem `{0}` has no pinned version",
    why: "Without a version, each build installs the newest release of the gem, so rebuilding can change the image.",
    fix: "Pin the version: `gem install rails:7.1.3` or `gem install rails -v 7.1.3`; or use a Gemfile.lock with `bundle install`.",
    hadolint: Some("DL3028"),
    buildkit: None,
};

pub(super) static CACHE: Rule = Rule {
    id: "KL046",
    name: "gem-cache-not-cleaned",
    severity: Severity::Info,
    summary: "`gem install` / `bundle install` without removing the gem cache in the same RUN.",
    message: "`{0} install` keeps the downloaded .gem files in the image",
    why: "RubyGems keeps a copy of every installed `.gem` archive in `GEM_HOME/cache`. They are only needed to reinstall, never in a finished image.",
    fix: "Remove the cache in the same RUN: `&& rm -rf /usr/local/bundle/cache \"$(gem env gemdir)\"/cache`, or `bundle install` then `rm -rf \"$BUNDLE_PATH\"/cache`.",
    hadolint: None,
    buildkit: None,
};

pub(super) static NO_DOCUMENT: Rule = Rule {
    id: "KL047",
    name: "gem-documentation",
    severity: Severity::Info,
    summary: "`gem install` that also generates documentation (no `--no-document`).",
    message: "`gem install` generates ri/rdoc documentation: add --no-document",
    why: "Generating documentation for every gem slows the build and adds files nobody reads inside a container.",
    fix: "Add `--no-document` (`-N`), or put `gem: --no-document` in `/etc/gemrc`.",
    hadolint: None,
    buildkit: None,
};

pub(super) static RULES: &[&Rule] = &[&UNPINNED, &CACHE, &NO_DOCUMENT];

/// The checks of one RUN.
pub(super) fn check(run: &RunCx<'_>, out: &mut Out) {
    let cleaned = run.removes(&["cache", ".gem"]);
    for inv in invocations(run, &["gem"], &["install", "i"], WITH_VALUE) {
        let span = inv_span(run, &inv);
        if !cleaned {
            out.emit(&CACHE, span, &["gem"]);
        }
        if !inv.cmd.has_arg(&["--no-document", "-N", "--no-doc"]) && !inv.cmd.has_arg(&["--no-ri"])
        {
            out.emit(&NO_DOCUMENT, span, &[]);
        }
        let versioned = inv.cmd.has_arg(&["-v", "--version"]);
        if versioned {
            continue;
        }
        for p in &inv.operands {
            if is_dynamic(p) || p.text.contains(':') || p.text.ends_with(".gem") {
                continue;
            }
            out.emit(&UNPINNED, run.word_span(p), &[&p.text]);
        }
    }
    if !cleaned {
        for inv in invocations(run, &["bundle", "bundler"], &["install"], WITH_VALUE) {
            out.emit(&CACHE, inv_span(run, &inv), &["bundle"]);
        }
    }
}
