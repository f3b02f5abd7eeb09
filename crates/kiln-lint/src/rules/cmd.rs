//! Image configuration: CMD, ENTRYPOINT, HEALTHCHECK, EXPOSE, ENV, LABEL, MAINTAINER.

use crate::pass::{Cx, Out};
use crate::rule::{Rule, Severity};
use kiln_dockerfile::instructions::Command as Ins;
use std::collections::HashSet;

pub(super) static JSON_ARGS: Rule = Rule {
    id: "KL080",
    name: "json-args",
    severity: Severity::Warning,
    summary: "CMD or ENTRYPOINT in shell form.",
    message: "use the JSON form for {0}: [\"program\", \"arg\", ...]",
    why: "In shell form the program runs as a child of `/bin/sh -c`. The shell is PID 1 and does not pass on SIGTERM, so `docker stop` waits for the timeout and kills the program without a clean shutdown. An ENTRYPOINT in shell form also ignores CMD and `docker run` arguments.",
    fix: "Write `CMD [\"node\", \"server.js\"]`. If you need shell features, use `exec` in a script, or `CMD [\"sh\", \"-c\", \"exec node server.js\"]`.",
    hadolint: Some("DL3025"),
    buildkit: Some("JSONArgsRecommended"),
};

pub(super) static MULTIPLE_CMD: Rule = Rule {
    id: "KL081",
    name: "multiple-cmd",
    severity: Severity::Warning,
    summary: "More than one CMD in a stage.",
    message: "more than one CMD in this stage: only the last one takes effect",
    why: "Only the last CMD of a stage counts; earlier ones are silently dropped, which usually means the file does not do what its author thought.",
    fix: "Keep one CMD per stage.",
    hadolint: Some("DL4003"),
    buildkit: Some("MultipleInstructionsDisallowed"),
};

pub(super) static MULTIPLE_ENTRYPOINT: Rule = Rule {
    id: "KL082",
    name: "multiple-entrypoint",
    severity: Severity::Error,
    summary: "More than one ENTRYPOINT in a stage.",
    message: "more than one ENTRYPOINT in this stage: only the last one takes effect",
    why: "Only the last ENTRYPOINT of a stage counts; earlier ones are silently dropped.",
    fix: "Keep one ENTRYPOINT per stage.",
    hadolint: Some("DL4004"),
    buildkit: Some("MultipleInstructionsDisallowed"),
};

pub(super) static MULTIPLE_HEALTHCHECK: Rule = Rule {
    id: "KL083",
    name: "multiple-healthcheck",
    severity: Severity::Error,
    summary: "More than one HEALTHCHECK in a stage.",
    message: "more than one HEALTHCHECK in this stage: only the last one takes effect",
    why: "An image has one health check; earlier HEALTHCHECK instructions are silently replaced.",
    fix: "Keep one HEALTHCHECK per stage.",
    hadolint: Some("DL3012"),
    buildkit: Some("MultipleInstructionsDisallowed"),
};

pub(super) static MAINTAINER: Rule = Rule {
    id: "KL084",
    name: "maintainer-deprecated",
    severity: Severity::Warning,
    summary: "The deprecated MAINTAINER instruction.",
    message: "MAINTAINER is deprecated: use LABEL org.opencontainers.image.authors=...",
    why: "MAINTAINER has been deprecated since Docker 1.13; the standard place for the author is the `org.opencontainers.image.authors` label, which tools know how to read.",
    fix: "Replace `MAINTAINER Jane <jane@example.com>` with `LABEL org.opencontainers.image.authors=\"Jane <jane@example.com>\"`.",
    hadolint: Some("DL4000"),
    buildkit: Some("MaintainerDeprecated"),
};

pub(super) static EXPOSE_RANGE: Rule = Rule {
    id: "KL085",
    name: "expose-port-range",
    severity: Severity::Error,
    summary: "EXPOSE of a port outside 0-65535.",
    message: "port {0} is out of range: ports are 0 to 65535",
    why: "TCP and UDP ports are 16-bit numbers. A larger number is a typo, and the image metadata will be rejected or wrong.",
    fix: "Use a port between 0 and 65535.",
    hadolint: Some("DL3011"),
    buildkit: None,
};

pub(super) static EXPOSE_PROTO_CASING: Rule = Rule {
    id: "KL086",
    name: "expose-proto-casing",
    severity: Severity::Warning,
    summary: "EXPOSE with an upper-case protocol (`80/TCP`).",
    message: "protocol in `{0}` should be lower case",
    why: "Protocols are `tcp`, `udp` and `sctp` in lower case; other spellings are normalised by some tools and rejected by others.",
    fix: "Write `EXPOSE 80/tcp`.",
    hadolint: None,
    buildkit: Some("ExposeProtoCasing"),
};

pub(super) static EXPOSE_FORMAT: Rule = Rule {
    id: "KL087",
    name: "expose-invalid-format",
    severity: Severity::Warning,
    summary: "EXPOSE with an IP address or a host-port mapping.",
    message: "EXPOSE `{0}` should not contain an IP address or host-port mapping",
    why: "EXPOSE documents the ports the container listens on. Host ports and addresses are chosen when the container is run (`-p 8080:80`), not in the image; BuildKit will reject this form in a future release.",
    fix: "Write only the container port: `EXPOSE 80`, and map it with `docker run -p 8080:80`.",
    hadolint: None,
    buildkit: Some("ExposeInvalidFormat"),
};

pub(super) static ENV_SELF_REFERENCE: Rule = Rule {
    id: "KL088",
    name: "env-self-reference",
    severity: Severity::Error,
    summary: "An ENV value that uses a variable set earlier in the same ENV instruction.",
    message: "`${0}` refers to a variable set in the same ENV instruction: it gets the old value",
    why: "All values of one ENV instruction are expanded before any of them is set, so `ENV A=1 B=$A` sets B to the value A had *before* the instruction (usually empty).",
    fix: "Split the instruction: `ENV A=1` then `ENV B=$A`.",
    hadolint: Some("DL3044"),
    buildkit: None,
};

pub(super) static LEGACY_KEY_VALUE: Rule = Rule {
    id: "KL089",
    name: "legacy-key-value",
    severity: Severity::Warning,
    summary: "ENV or LABEL in the legacy `key value` form.",
    message: "\"{0} key=value\" should be used instead of the legacy \"{0} key value\" form",
    why: "The space-separated form takes everything after the first space as the value, which is easy to misread and cannot set several variables at once. It is deprecated.",
    fix: "Write `ENV NAME=value` (quote values with spaces).",
    hadolint: None,
    buildkit: Some("LegacyKeyValueFormat"),
};

pub(super) static RULES: &[&Rule] = &[
    &JSON_ARGS,
    &MULTIPLE_CMD,
    &MULTIPLE_ENTRYPOINT,
    &MULTIPLE_HEALTHCHECK,
    &MAINTAINER,
    &EXPOSE_RANGE,
    &EXPOSE_PROTO_CASING,
    &EXPOSE_FORMAT,
    &ENV_SELF_REFERENCE,
    &LEGACY_KEY_VALUE,
];

/// Variable names referenced in `s` (`$NAME`, `${NAME...}`), escapes respected.
pub(crate) fn var_refs(s: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_single = false;
    while i < chars.len() {
        let c = chars[i];
        if c == escape && !in_single {
            i += 2;
            continue;
        }
        if c == '\'' {
            in_single = !in_single;
        }
        if c == '$' && !in_single {
            let mut j = i + 1;
            let braced = chars.get(j) == Some(&'{');
            if braced {
                j += 1;
            }
            let start = j;
            while j < chars.len() && (chars[j] == '_' || chars[j].is_ascii_alphanumeric()) {
                j += 1;
            }
            if j > start {
                out.push(chars[start..j].iter().collect());
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

pub(super) fn check(cx: &Cx<'_>, out: &mut Out) {
    for st in &cx.df.stages {
        let mut seen_cmd = false;
        let mut seen_ep = false;
        let mut seen_hc = false;
        for ins in &st.instructions {
            match &ins.command {
                Ins::Cmd(line) | Ins::Entrypoint(line) => {
                    let is_cmd = matches!(ins.command, Ins::Cmd(_));
                    if line.shell_form && line.args.as_ref().is_some_and(|a| !a.is_empty()) {
                        out.emit(&JSON_ARGS, line.span, &[ins.command.name()]);
                    }
                    let seen = if is_cmd { &mut seen_cmd } else { &mut seen_ep };
                    if *seen {
                        let rule = if is_cmd {
                            &MULTIPLE_CMD
                        } else {
                            &MULTIPLE_ENTRYPOINT
                        };
                        out.emit(rule, ins.keyword.span, &[]);
                    }
                    *seen = true;
                }
                Ins::Healthcheck(_) => {
                    if seen_hc {
                        out.emit(&MULTIPLE_HEALTHCHECK, ins.keyword.span, &[]);
                    }
                    seen_hc = true;
                }
                Ins::Maintainer { .. } => out.emit(&MAINTAINER, ins.keyword.span, &[]),
                Ins::Expose { ports } => {
                    for p in ports {
                        let v = p.value.as_str();
                        if v.contains('$') {
                            continue;
                        }
                        let (port, proto) = match v.split_once('/') {
                            Some((a, b)) => (a, Some(b)),
                            None => (v, None),
                        };
                        if port.contains(':') {
                            out.emit(&EXPOSE_FORMAT, p.span, &[v]);
                            continue;
                        }
                        if proto.is_some_and(|pr| pr.chars().any(|c| c.is_ascii_uppercase())) {
                            out.emit(&EXPOSE_PROTO_CASING, p.span, &[v]);
                        }
                        for n in port.split('-') {
                            if !n.is_empty()
                                && n.chars().all(|c| c.is_ascii_digit())
                                && n.parse::<u64>().map_or(true, |x| x > 65535)
                            {
                                out.emit(&EXPOSE_RANGE, p.span, &[n]);
                            }
                        }
                    }
                }
                Ins::Env { env } => {
                    // Keys of the earlier pairs of this ENV (a set: one ENV may have many).
                    let mut earlier: HashSet<&str> = HashSet::new();
                    for kv in env {
                        for name in var_refs(&kv.value.value, cx.df.escape) {
                            if earlier.contains(name.as_str()) && name != kv.key.value {
                                out.emit(&ENV_SELF_REFERENCE, kv.value.span, &[&name]);
                            }
                        }
                        earlier.insert(&kv.key.value);
                    }
                    legacy(out, "ENV", env);
                }
                Ins::Label { labels } => legacy(out, "LABEL", labels),
                _ => {}
            }
        }
    }
}

fn legacy(out: &mut Out, name: &str, kvs: &[kiln_dockerfile::instructions::KeyValue]) {
    for kv in kvs.iter().filter(|kv| kv.legacy) {
        out.emit(&LEGACY_KEY_VALUE, kv.key.span.to(kv.value.span), &[name]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn refs() {
        assert_eq!(
            super::var_refs("a $B ${C:-x} \\$D '$E' $", '\\'),
            vec!["B", "C"]
        );
    }
}
