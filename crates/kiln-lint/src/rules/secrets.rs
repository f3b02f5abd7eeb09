//! Secrets in build arguments, environment variables, labels and commands.

use crate::pass::{Cx, Out, RunCx};
use crate::rule::{Rule, Severity};
use kiln_dockerfile::instructions::Command as Ins;
use kiln_dockerfile::Span;

pub(super) static SECRET_NAME: Rule = Rule {
    id: "KL100",
    name: "secret-in-arg-or-env",
    severity: Severity::Warning,
    summary: "An ARG or ENV whose name says it holds a secret (`*_PASSWORD`, `*_TOKEN`, `API_KEY`...).",
    message: "do not pass secrets with {0}: `{1}` stays in the image or its history",
    why: "ENV values are stored in the image config, and ARG values in the build history (`docker history`) and provenance: anyone who can pull the image can read them. This is true even when the value is only given with `--build-arg`.",
    fix: "Use a secret mount: `RUN --mount=type=secret,id=npm_token,env=NPM_TOKEN npm ci`, built with `--secret id=npm_token,env=NPM_TOKEN`.",
    hadolint: None,
    buildkit: Some("SecretsUsedInArgOrEnv"),
};

pub(super) static SECRET_VALUE: Rule = Rule {
    id: "KL101",
    name: "secret-value",
    severity: Severity::Error,
    summary: "A literal credential (access key, token, private key, password in a URL) in the Dockerfile.",
    message: "this looks like {0}: credentials must not be written in a Dockerfile",
    why: "A credential written in a Dockerfile is in the repository's history, the build cache and usually the image. It has to be treated as leaked.",
    fix: "Revoke the credential, remove it from the file, and pass it at build time with a secret mount (`RUN --mount=type=secret,...`).",
    hadolint: None,
    buildkit: None,
};

pub(super) static RULES: &[&Rule] = &[&SECRET_NAME, &SECRET_VALUE];

const SECRET_PARTS: &[&str] = &[
    "apikey",
    "auth",
    "credential",
    "credentials",
    "key",
    "password",
    "pword",
    "passwd",
    "secret",
    "token",
];

/// Does the name say it holds a secret? (parts split on `_`; `public` parts excuse it)
pub(crate) fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('_').collect();
    parts.iter().any(|p| SECRET_PARTS.contains(p)) && !parts.contains(&"public")
}

fn run_of(s: &str, pred: impl Fn(char) -> bool) -> usize {
    s.chars().take_while(|c| pred(*c)).count()
}

/// What kind of credential `value` contains, if any.
pub(crate) fn secret_kind(value: &str) -> Option<&'static str> {
    if value.contains("PRIVATE KEY-----") {
        return Some("a private key");
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let upper_alnum = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit();
    let b64url = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    for (i, _) in value.char_indices() {
        let rest = &value[i..];
        let boundary = value[..i]
            .chars()
            .next_back()
            .map_or(true, |c| !c.is_ascii_alphanumeric());
        if !boundary {
            continue;
        }
        for p in ["AKIA", "ASIA"] {
            if let Some(r) = rest.strip_prefix(p) {
                if run_of(r, upper_alnum) == 16 {
                    return Some("an AWS access key");
                }
            }
        }
        for p in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
            if rest.strip_prefix(p).is_some_and(|r| run_of(r, alnum) >= 36) {
                return Some("a GitHub token");
            }
        }
        if rest
            .strip_prefix("github_pat_")
            .is_some_and(|r| run_of(r, b64url) >= 22)
        {
            return Some("a GitHub token");
        }
        if rest
            .strip_prefix("glpat-")
            .is_some_and(|r| run_of(r, b64url) >= 20)
        {
            return Some("a GitLab token");
        }
        if rest.starts_with("xox")
            && rest.len() > 5
            && matches!(rest.as_bytes()[3], b'a' | b'b' | b'p' | b'r' | b's')
            && rest.as_bytes()[4] == b'-'
            && run_of(&rest[5..], |c| alnum(c) || c == '-') >= 10
        {
            return Some("a Slack token");
        }
        for p in ["sk_live_", "rk_live_"] {
            if rest.strip_prefix(p).is_some_and(|r| run_of(r, alnum) >= 16) {
                return Some("a Stripe key");
            }
        }
        if rest
            .strip_prefix("AIza")
            .is_some_and(|r| run_of(r, b64url) >= 35)
        {
            return Some("a Google API key");
        }
        if rest
            .strip_prefix("npm_")
            .is_some_and(|r| run_of(r, alnum) >= 36)
        {
            return Some("an npm token");
        }
        if let Some(r) = rest.strip_prefix("eyJ") {
            let a = run_of(r, b64url);
            if a >= 10 && r[a..].starts_with(".eyJ") && run_of(&r[a + 4..], b64url) >= 10 {
                return Some("a JSON web token");
            }
        }
    }
    // scheme://user:password@host with a literal password.
    if let Some(i) = value.find("://") {
        let after = &value[i + 3..];
        let auth_end = after
            .find(['/', '?', '#', ' ', '"', '\''])
            .unwrap_or(after.len());
        if let Some(at) = after[..auth_end].rfind('@') {
            if let Some((_, pass)) = after[..at].split_once(':') {
                if !pass.is_empty() && !pass.starts_with('$') && !pass.starts_with('%') {
                    return Some("a password in a URL");
                }
            }
        }
    }
    None
}

pub(super) fn check(cx: &Cx<'_>, out: &mut Out) {
    let value_hit = |span: Span, v: &str, out: &mut Out| {
        if let Some(kind) = secret_kind(v) {
            out.emit(&SECRET_VALUE, span, &[kind]);
        }
    };
    let all = cx
        .df
        .global_args
        .iter()
        .chain(cx.df.stages.iter().flat_map(|s| s.instructions.iter()));
    for ins in all {
        match &ins.command {
            Ins::Arg { args } => {
                for a in args {
                    if secret_name(&a.key.value) {
                        out.emit(&SECRET_NAME, a.key.span, &["ARG", &a.key.value]);
                    }
                    if let Some(d) = &a.default {
                        value_hit(d.span, &d.value, out);
                    }
                }
            }
            Ins::Env { env } => {
                for kv in env {
                    if secret_name(&kv.key.value) {
                        out.emit(&SECRET_NAME, kv.key.span, &["ENV", &kv.key.value]);
                    }
                    value_hit(kv.value.span, &kv.value.value, out);
                }
            }
            Ins::Label { labels } => {
                for kv in labels {
                    value_hit(kv.value.span, &kv.value.value, out);
                }
            }
            _ => {}
        }
    }
}

/// The words of one RUN that look like secrets.
pub(super) fn check_run(run: &RunCx<'_>, out: &mut Out) {
    for c in run.script.commands.iter().filter(|c| !c.nested) {
        for w in c.words.iter().chain(&c.assigns) {
            // The span only for a hit: finding it costs more than the check.
            if let Some(kind) = secret_kind(&w.text) {
                out.emit(&SECRET_VALUE, run.word_span(w), &[kind]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(secret_name("AWS_SECRET_ACCESS_KEY"));
        assert!(secret_name("password"));
        assert!(secret_name("NPM_TOKEN"));
        assert!(!secret_name("PUBLIC_KEY"));
        assert!(!secret_name("TOKENIZER"));
        assert!(!secret_name("NODE_VERSION"));
    }

    #[test]
    fn values() {
        assert_eq!(
            secret_kind("AKIAIOSFODNN7EXAMPLE"),
            Some("an AWS access key")
        );
        assert_eq!(
            secret_kind("https://bob:hunter2@example.com/x"),
            Some("a password in a URL")
        );
        assert_eq!(secret_kind("https://bob:${PASS}@example.com/x"), None);
        assert_eq!(
            secret_kind(&format!("ghp_{}", "a".repeat(36))),
            Some("a GitHub token")
        );
        assert_eq!(
            secret_kind("-----BEGIN RSA PRIVATE KEY-----"),
            Some("a private key")
        );
        assert_eq!(secret_kind("https://example.com/a@b"), None);
        assert_eq!(secret_kind("hello"), None);
        assert_eq!(secret_kind("xoxé"), None);
    }
}
