//! COPY and ADD.

use crate::pass::{Cx, Out};
use crate::rule::{Rule, Severity};
use kiln_dockerfile::instructions::Command as Ins;

pub(super) static ADD_FOR_FILES: Rule = Rule {
    id: "KL070",
    name: "add-instead-of-copy",
    severity: Severity::Warning,
    summary: "ADD used for plain local files and folders.",
    message: "use COPY instead of ADD for files and folders",
    why: "ADD also downloads URLs and unpacks local archives. Used for plain files it hides that magic: renaming `app.txt` to `app.tar.gz` would suddenly unpack it. COPY does only what it says.",
    fix: "Write `COPY` for local files and folders. Keep ADD for URLs (with `--checksum`), git sources, and archives you want unpacked.",
    hadolint: Some("DL3020"),
    buildkit: None,
};

pub(super) static DEST_NOT_DIR: Rule = Rule {
    id: "KL071",
    name: "copy-dest-not-dir",
    severity: Severity::Error,
    summary: "COPY with several sources to a destination that does not end with `/`.",
    message: "{0} with more than one source needs a destination that ends with /",
    why: "With several sources the destination must be a directory; the builder rejects the instruction when the destination does not end with `/`.",
    fix: "End the destination with a slash: `COPY a.txt b.txt /app/`.",
    hadolint: Some("DL3021"),
    buildkit: None,
};

pub(super) static FROM_UNKNOWN_STAGE: Rule = Rule {
    id: "KL072",
    name: "copy-from-unknown-stage",
    severity: Severity::Warning,
    summary: "`COPY --from=NAME` where NAME is not an earlier stage (and not an image reference).",
    message: "`--from={0}` is not the name of an earlier stage: it will be pulled as the image `{0}`",
    why: "When `--from` names no stage, the builder treats it as an image name and pulls it from a registry. A misspelt stage name then copies files from whatever image has that name, or fails late.",
    fix: "Name the stage (`FROM golang:1.22 AS build`) and use that name, or write a full image reference with a tag (`--from=nginx:1.25`).",
    hadolint: Some("DL3022"),
    buildkit: None,
};

pub(super) static ADD_URL_NO_CHECKSUM: Rule = Rule {
    id: "KL073",
    name: "add-url-without-checksum",
    severity: Severity::Warning,
    summary: "ADD of an http(s) URL without `--checksum`.",
    message: "ADD downloads `{0}` without verifying it: add --checksum=sha256:...",
    why: "Without a checksum the build uses whatever the server returns that day; a changed or compromised file goes into the image unnoticed.",
    fix: "Add `--checksum=sha256:<digest>` to the ADD, or download with curl and check the digest with `sha256sum -c`.",
    hadolint: None,
    buildkit: None,
};

pub(super) static RULES: &[&Rule] = &[
    &ADD_FOR_FILES,
    &DEST_NOT_DIR,
    &FROM_UNKNOWN_STAGE,
    &ADD_URL_NO_CHECKSUM,
];

const ARCHIVES: &[&str] = &[
    ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".gz",
    ".bz2", ".xz", ".zst", ".lz4",
];

pub(crate) fn is_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("http://")
        || l.starts_with("https://")
        || l.starts_with("git@")
        || l.starts_with("git://")
}

pub(super) fn check(cx: &Cx<'_>, out: &mut Out) {
    for st in &cx.df.stages {
        for ins in &st.instructions {
            let (c, add) = match &ins.command {
                Ins::Copy(c) => (c, false),
                Ins::Add(c) => (c, true),
                _ => continue,
            };
            let name = ins.command.name();
            let n_sources = c.sources.len() + c.inline.len();
            if n_sources > 1
                && !c.dest.value.ends_with('/')
                && !c.dest.value.ends_with('\\')
                && !add
            {
                out.emit(&DEST_NOT_DIR, c.dest.span, &[name]);
            }
            if add {
                let plain = !c.sources.is_empty()
                    && c.inline.is_empty()
                    && c.sources.iter().all(|s| {
                        let l = s.value.to_ascii_lowercase();
                        !is_url(&l)
                            && !ARCHIVES.iter().any(|a| l.ends_with(a))
                            && !l.contains('$')
                            && !l.contains('*')
                    });
                if plain {
                    out.emit(&ADD_FOR_FILES, ins.keyword.span, &[]);
                }
                for s in &c.sources {
                    let l = s.value.to_ascii_lowercase();
                    if (l.starts_with("http://") || l.starts_with("https://"))
                        && c.checksum.is_none()
                    {
                        out.emit(&ADD_URL_NO_CHECKSUM, s.span, &[&s.value]);
                    }
                }
            }
            if let Some(from) = &c.from {
                let v = from.value.as_str();
                let lower = v.to_lowercase();
                let known = cx.df.stages[..st.index]
                    .iter()
                    .any(|s| s.name() == Some(lower.as_str()))
                    || (!v.is_empty() && v.chars().all(|ch| ch.is_ascii_digit()))
                    || v.contains(['/', ':', '@', '.', '$']);
                if !known {
                    let names = cx.df.stages[..st.index].iter().filter_map(|s| s.name());
                    match kiln_dockerfile::suggest::did_you_mean(&lower, names, false) {
                        Some(h) => out.emit_hint(&FROM_UNKNOWN_STAGE, from.span, &[v], h),
                        None => out.emit(&FROM_UNKNOWN_STAGE, from.span, &[v]),
                    }
                }
            }
        }
    }
}
