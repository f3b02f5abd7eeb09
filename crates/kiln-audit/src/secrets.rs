//! Secrets in text: private keys, cloud credentials, tokens and passwords (patterns, the
//! generic ones with an entropy check so `password=changeme` in documentation passes),
//! and payment card numbers (Luhn-checked, known issuer prefixes).

use crate::checks::{self, Check};
use regex::Regex;
use std::sync::OnceLock;

/// A secret found: which check, and a redacted sample for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub check: &'static Check,
    pub what: String,
}

struct Pattern {
    check: &'static Check,
    what: &'static str,
    re: Regex,
    /// The capture group whose entropy must reach [`MIN_ENTROPY`] (generic patterns).
    entropy_group: Option<usize>,
}

/// Bits per character a generic password or token must reach: random strings of 12 or
/// more characters do, words and placeholders (`changeme`, `${PASSWORD}`) do not.
const MIN_ENTROPY: f64 = 3.0;

fn patterns() -> &'static [Pattern] {
    static P: OnceLock<Vec<Pattern>> = OnceLock::new();
    P.get_or_init(|| {
        let p = |check, what, re: &str, entropy_group| Pattern {
            check,
            what,
            re: Regex::new(re).expect("the patterns are valid"),
            entropy_group,
        };
        vec![
            p(&checks::PRIVATE_KEY, "a private key", r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----", None),
            p(&checks::CLOUD_CREDENTIAL, "an AWS access key ID", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", None),
            p(&checks::CLOUD_CREDENTIAL, "an AWS secret access key", r"(?i)aws_secret_access_key\s*[=:]\s*[A-Za-z0-9/+=]{40}", None),
            p(&checks::CLOUD_CREDENTIAL, "a Google service account key", r#""type"\s*:\s*"service_account""#, None),
            p(&checks::TOKEN, "a GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", None),
            p(&checks::TOKEN, "a GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}", None),
            p(&checks::TOKEN, "a Slack token", r"\bxox[baprs]-[A-Za-z0-9-]{10,}", None),
            p(&checks::TOKEN, "an npm token", r"\bnpm_[A-Za-z0-9]{36}\b", None),
            p(&checks::TOKEN, "a password in a URL", r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@$]{3,}@", None),
            p(&checks::TOKEN, "a password or token", r#"(?i)(?:\b|_)(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)\b["']?\s*[=:]\s*["']?([^\s"'`$<>{}();,:]{12,})"#, Some(1)),
        ]
    })
}

/// A generic secret's value: letters and digits mixed, at [`MIN_ENTROPY`] or above (not
/// a word such as `elevated-privileges`, nor code such as `Win32::GetCwd();`).
fn random_looking(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_digit())
        && v.bytes().any(|b| b.is_ascii_alphabetic())
        && entropy(v) >= MIN_ENTROPY
}

/// Shannon entropy of `s` in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

/// The secrets in `text`, one hit per pattern; the generic password pattern only when no
/// specific one matched (`aws_secret_access_key=...` is one AWS key, not also a password).
pub fn find(text: &str) -> Vec<Hit> {
    find_with(text, true)
}

/// [`find`], without the generic password pattern when `generic` is false (library code
/// is full of `password = compute(...)`).
pub fn find_with(text: &str, generic: bool) -> Vec<Hit> {
    let mut out = Vec::new();
    for p in patterns() {
        if p.entropy_group.is_some() && (!generic || !out.is_empty()) {
            continue;
        }
        let found = p.re.captures_iter(text).any(|c| match p.entropy_group {
            None => true,
            Some(g) => c.get(g).is_some_and(|m| random_looking(m.as_str())),
        });
        if found {
            out.push(Hit {
                check: p.check,
                what: p.what.to_string(),
            });
        }
    }
    if let Some(card) = card_number(text) {
        out.push(Hit {
            check: &checks::CARD_NUMBER,
            what: format!(
                "a card number ending in {}",
                card.get(card.len().saturating_sub(4)..).unwrap_or("")
            ),
        });
    }
    out
}

/// `text` with every secret replaced by `[redacted]`: pattern matches, and the values of
/// `NAME=value` words whose name says secret. For history lines shown in reports.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for p in patterns() {
        out = p.re.replace_all(&out, "[redacted]").into_owned();
    }
    // `NAME=value` words whose name says secret; a quoted value runs to its closing quote.
    let mut words = Vec::new();
    let mut quote: Option<char> = None;
    for word in out.split(' ') {
        if let Some(q) = quote {
            if word.ends_with(q) {
                quote = None;
            }
            continue;
        }
        match word.split_once('=') {
            Some((k, v)) if secret_name(k, v.trim_matches(['"', '\''])) => {
                let open = v.chars().next().filter(|c| *c == '"' || *c == '\'');
                if let Some(q) = open {
                    if v.len() == 1 || !v.ends_with(q) {
                        quote = Some(q);
                    }
                }
                words.push(format!("{k}=[redacted]"));
            }
            _ => words.push(word.to_string()),
        }
    }
    words.join(" ")
}

/// A variable or label whose name says it holds a secret, with a value: the name.
pub fn secret_name(name: &str, value: &str) -> bool {
    let n = name.to_ascii_uppercase();
    let named = [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "ACCESS_KEY",
    ]
    .iter()
    .any(|w| n.contains(w));
    named && !value.is_empty() && !value.starts_with('$')
}

/// The first card number in `text`: 13 to 19 ASCII digits, written whole or in groups of
/// four (American Express: 4-6-5), with a known issuer's prefix and length (Visa,
/// Mastercard, American Express, Discover), passing the Luhn check.
fn card_number(text: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"\b(?:[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,7}|[0-9]{4}[ -][0-9]{6}[ -][0-9]{5})\b")
            .expect("valid")
    });
    // Part of a longer run of numbers (a table) is no card number.
    let digit_near = |s: &str| {
        s.trim_start_matches([' ', '-'])
            .starts_with(|c: char| c.is_ascii_digit())
    };
    re.find_iter(text).find_map(|m| {
        let before: String = text[..m.start()].chars().rev().take(2).collect();
        if digit_near(&before) || digit_near(&text[m.end()..]) {
            return None;
        }
        let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
        let b = digits.as_bytes();
        let same = b.iter().all(|d| *d == b[0]);
        (issuer_length(&digits) && !same && luhn(&digits)).then_some(digits)
    })
}

/// Does `d` start like a card of a known issuer, with that issuer's length?
fn issuer_length(d: &str) -> bool {
    let prefix = |n: usize| d.get(..n).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    let len = d.len();
    let visa = d.starts_with('4') && matches!(len, 13 | 16 | 19);
    let mastercard =
        ((51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4))) && len == 16;
    let amex = matches!(prefix(2), 34 | 37) && len == 15;
    let discover = (prefix(4) == 6011 || (644..=649).contains(&prefix(3)) || prefix(2) == 65)
        && (16..=19).contains(&len);
    visa || mastercard || amex || discover
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<&'static str> {
        find(text).iter().map(|h| h.check.id).collect()
    }

    #[test]
    fn keys_credentials_tokens_and_cards_are_found() {
        assert_eq!(ids("-----BEGIN RSA PRIVATE KEY-----\nMIIE..."), ["KA010"]);
        assert_eq!(ids("-----BEGIN OPENSSH PRIVATE KEY-----"), ["KA010"]);
        assert_eq!(ids("key = AKIAIOSFODNN7EXAMPLE"), ["KA011"]);
        assert_eq!(
            ids("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            ["KA011"]
        );
        assert_eq!(ids("ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"), ["KA012"]);
        assert_eq!(ids("DB_PASSWORD=Xk9#mQ2vL7pZr4Tw"), ["KA012"]);
        assert_eq!(ids("card 4111 1111 1111 1111 here"), ["KA025"]);
        assert_eq!(ids("amex 3782 822463 10005"), ["KA025"]);
        assert_eq!(ids("mc 2221000000000009"), ["KA025"]);
        assert_eq!(ids("url https://admin:S3cretPass@db.example/x"), ["KA012"]);
    }

    #[test]
    fn placeholders_words_and_other_numbers_are_not() {
        for text in [
            "password=changeme",
            "password = ${DB_PASSWORD}",
            "token: <your-token-here>",
            "-----BEGIN PUBLIC KEY-----",
            "4111 1111 1111 1112",
            "1234567890123456",
            "0000000000000000",
            "AKIA lowercase akiaiosfodnn7example",
            "passwd: elevated-privileges 4755 root/root [usr/bin/passwd]",
            "$pwd = Win32::GetCwd();",
            "5352 5354 5353 5351 5350 5349 5348",
            "5\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}",
            "4\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}\u{660}2",
            "http://example.com/path",
        ] {
            assert!(find(text).is_empty(), "{text}: {:?}", find(text));
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("ARG API_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"),
            "ARG API_TOKEN=[redacted]"
        );
        assert_eq!(
            redact("RUN echo AKIAIOSFODNN7EXAMPLE"),
            "RUN echo [redacted]"
        );
        assert_eq!(redact("RUN make install"), "RUN make install");
        assert_eq!(
            redact("ENV PASSWORD=\"correct horse battery\" MODE=x"),
            "ENV PASSWORD=[redacted] MODE=x"
        );
        assert_eq!(
            redact("RUN git clone https://admin:S3cretPass@git.example/r"),
            "RUN git clone [redacted]git.example/r"
        );
    }

    #[test]
    fn names_that_say_secret() {
        assert!(secret_name("DB_PASSWORD", "hunter2"));
        assert!(secret_name("github_token", "x"));
        assert!(!secret_name("DB_PASSWORD", ""));
        assert!(!secret_name("PATH", "/usr/bin"));
        assert!(!secret_name("API_KEY", "$API_KEY"));
    }
}
