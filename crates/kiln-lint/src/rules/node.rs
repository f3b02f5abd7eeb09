//! npm and yarn.

use super::pkg::{inv_span, invocations, is_dynamic};
use crate::pass::{Out, RunCx};
use crate::rule::{Rule, Severity};

const WITH_VALUE: &[&str] = &[
    "--prefix",
    "--registry",
    "--cache",
    "-w",
    "--workspace",
    "--omit",
    "--include",
    "--tag",
    "--userconfig",
];
const INSTALL: &[&str] = &[
    "install", "i", "add", "ci", "in", "ins", "inst", "insta", "instal", "isnt", "isnta", "isntal",
    "isntall",
];

pub(super) static NPM_CACHE: Rule = Rule {
    id: "KL042",
    name: "npm-cache-not-cleaned",
    severity: Severity::Info,
    summary: "`npm install` / `npm ci` without `npm cache clean --force` in the same RUN.",
    message: "`npm {0}` keeps its download cache (~/.npm) in the image",
    why: "npm stores every downloaded tarball under `~/.npm/_cacache`. In an image it is never used again and can be as large as `node_modules` itself.",
    fix: "End the RUN with `&& npm cache clean --force`, or use `--mount=type=cache,target=/root/.npm`.",
    hadolint: None,
    buildkit: None,
};

pub(super) static NPM_UNPINNED: Rule = Rule {
    id: "KL043",
    name: "npm-unpinned",
    severity: Severity::Warning,
    summary: "`npm install PKG` without a version (`PKG@version`).",
    message: "npm package `{0}` has no pinned version",
    why: "`npm install PKG` takes the newest release at build time, so rebuilding can change the image.",
    fix: "Pin the version (`npm install -g typescript@5.4.5`), or list dependencies in package.json with a lock file and run `npm ci`.",
    hadolint: Some("DL3016"),
    buildkit: None,
};

pub(super) static YARN_CACHE: Rule = Rule {
    id: "KL044",
    name: "yarn-cache-not-cleaned",
    severity: Severity::Info,
    summary: "`yarn install` / `yarn add` without `yarn cache clean` in the same RUN.",
    message: "`yarn {0}` keeps its download cache in the image: add `yarn cache clean`",
    why: "yarn (v1) keeps an offline copy of every package in its cache directory; in an image it only adds size.",
    fix: "End the RUN with `&& yarn cache clean`, or use `--mount=type=cache,target=/usr/local/share/.cache/yarn`.",
    hadolint: Some("DL3060"),
    buildkit: None,
};

pub(super) static RULES: &[&Rule] = &[&NPM_CACHE, &NPM_UNPINNED, &YARN_CACHE];

/// `pkg@1.2`, `@scope/pkg@1.2`, paths, URLs, git and tarballs count as pinned.
fn pinned(t: &str) -> bool {
    let body = t.strip_prefix('@').unwrap_or(t);
    body.contains('@')
        || t.starts_with('.')
        || t.starts_with('/')
        || t.starts_with('~')
        || t.contains("://")
        || t.starts_with("git")
        || t.starts_with("file:")
        || t.starts_with("github:")
        || t.ends_with(".tgz")
        || t.ends_with(".tar.gz")
        || (t.contains('/') && !t.starts_with('@'))
}

/// The checks of one RUN.
pub(super) fn check(run: &RunCx<'_>, out: &mut Out) {
    let npm_cleaned = invocations(run, &["npm"], &["cache"], WITH_VALUE)
        .iter()
        .any(|i| i.operands.iter().any(|w| w.text == "clean"))
        || run.removes(&[".npm"])
        || run.cache_mount(&["/root/.npm"]);
    for inv in invocations(run, &["npm"], INSTALL, WITH_VALUE) {
        if !npm_cleaned {
            out.emit(&NPM_CACHE, inv_span(run, &inv), &[&inv.sub.text]);
        }
        if inv.sub.text == "ci" {
            continue;
        }
        for p in &inv.operands {
            if is_dynamic(p) || pinned(&p.text) {
                continue;
            }
            out.emit(&NPM_UNPINNED, run.word_span(p), &[&p.text]);
        }
    }
    let yarn_cleaned = invocations(run, &["yarn"], &["cache"], WITH_VALUE)
        .iter()
        .any(|i| i.operands.iter().any(|w| w.text == "clean"))
        || run.removes(&["yarn"])
        || run.cache_mount(&["/usr/local/share/.cache/yarn", "/root/.cache/yarn"]);
    if !yarn_cleaned {
        for inv in invocations(run, &["yarn"], &["install", "add"], WITH_VALUE) {
            out.emit(&YARN_CACHE, inv_span(run, &inv), &[&inv.sub.text]);
        }
    }
}
