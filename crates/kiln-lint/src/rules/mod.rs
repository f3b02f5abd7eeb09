//! The rule table (BuildKit `linter/ruleset.go` style: rules are data) and the checks, one
//! file per rule family.

mod apk;
mod apt;
mod buildctx;
mod cmd;
mod copy;
mod gem;
mod image;
mod node;
mod pip;
mod pkg;
mod rpm;
mod run;
mod secrets;
mod stages;
mod user;
mod vars;
mod zypper;

use crate::pass::{Cx, Out};
use crate::rule::{Rule, Severity};

/// KL000: the front end rejected the Dockerfile.
pub static INVALID: Rule = Rule {
    id: "KL000",
    name: "invalid-dockerfile",
    severity: Severity::Error,
    summary: "The Dockerfile is rejected by the front end (syntax, instruction, stage or expansion error).",
    message: "{0}",
    why: "A Dockerfile that does not parse cannot be built, and no other rule can look at it. This rule cannot be disabled or ignored.",
    fix: "Fix the error the message describes; the hint says how.",
    hadolint: None,
    buildkit: None,
};

/// Every family's rules, in ID order.
static FAMILIES: &[&[&Rule]] = &[
    &[&INVALID],
    apt::RULES,
    apk::RULES,
    rpm::RULES,
    zypper::RULES,
    pip::RULES,
    node::RULES,
    gem::RULES,
    run::RULES,
    image::RULES,
    user::RULES,
    copy::RULES,
    cmd::RULES,
    stages::RULES,
    secrets::RULES,
    vars::RULES,
    buildctx::RULES,
];

/// Every rule, in ID order.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    FAMILIES.iter().flat_map(|f| f.iter().copied())
}

/// A rule by ID (`KL003`, any case) or name (`apt-unpinned`).
pub fn find(key: &str) -> Option<&'static Rule> {
    all().find(|r| r.id.eq_ignore_ascii_case(key) || r.name.eq_ignore_ascii_case(key))
}

/// Every rule family over the Dockerfile. RUN scripts are tokenized one at a time and
/// checked by the families that look at them, then dropped: a Dockerfile with thousands
/// of long RUNs never holds all their words at once.
pub(crate) fn check_all(cx: &Cx<'_>, out: &mut Out) {
    let pip_env = pip::env_no_cache(cx);
    let shells = run::shells(cx);
    let mut before = None;
    for (ordinal, r) in cx.runs().enumerate() {
        apt::check(&r, out);
        apk::check(&r, out);
        rpm::check(&r, out);
        zypper::check(&r, out);
        pip::check(&r, pip_env.get(ordinal).copied().unwrap_or(false), out);
        node::check(&r, out);
        gem::check(&r, out);
        run::check(&r, before.as_ref(), shells.get(ordinal), out);
        secrets::check_run(&r, out);
        before = Some(r);
    }
    image::check(cx, out);
    user::check(cx, out);
    copy::check(cx, out);
    cmd::check(cx, out);
    stages::check(cx, out);
    secrets::check(cx, out);
    vars::check(cx, out);
    buildctx::check(cx, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_and_names_are_unique_sorted_and_well_formed() {
        let rules: Vec<&Rule> = all().collect();
        assert!(rules.len() >= 40, "{} rules", rules.len());
        let mut ids = BTreeSet::new();
        let mut names = BTreeSet::new();
        let mut last = "";
        for r in &rules {
            assert!(ids.insert(r.id), "duplicate id {}", r.id);
            assert!(names.insert(r.name), "duplicate name {}", r.name);
            assert!(r.id > last, "{} out of order", r.id);
            last = r.id;
            assert!(
                r.id.len() == 5
                    && r.id.starts_with("KL")
                    && r.id[2..].chars().all(|c| c.is_ascii_digit())
            );
            assert!(r
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            assert!(
                !r.summary.is_empty()
                    && !r.why.is_empty()
                    && !r.fix.is_empty()
                    && !r.message.is_empty()
            );
            if let Some(h) = r.hadolint {
                assert!(h.starts_with("DL") && h.len() == 6, "{h}");
            }
        }
    }
}
