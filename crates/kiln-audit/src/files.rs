//! Checks of one layer member: its header (mode, type, xattrs, name) and, for small text
//! files, its content (secrets, credential files, core dumps).

use crate::checks::{self, Check};
use crate::secrets;
use kiln_oci::tar::RawEntry;

/// Files read for their content: at most this many bytes (secrets and credential files
/// are small; larger files are data).
pub const MAX_SCAN: u64 = 1 << 20;

/// Directories of data whose content is not read (documentation, locales, time zones):
/// their example passwords and numbers are not secrets.
const NOT_SCANNED: &[&str] = &[
    "usr/share/doc/",
    "usr/share/man/",
    "usr/share/info/",
    "usr/share/locale/",
    "usr/share/i18n/",
    "usr/share/zoneinfo/",
    "usr/share/common-licenses/",
    "usr/lib/locale/",
];

/// Library code, full of `password = compute(...)`: only the specific secret patterns
/// (keys, cloud credentials, named tokens) are looked for there.
const LIBRARIES: &[&str] = &[
    "/site-packages/",
    "/dist-packages/",
    "/node_modules/",
    "usr/share/perl",
    "usr/lib/x86_64-linux-gnu/perl",
    "usr/lib/aarch64-linux-gnu/perl",
    "usr/lib/python",
    "usr/local/lib/python",
    "usr/lib/ruby/",
];

/// A finding of one member, before its layer and step are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub check: &'static Check,
    pub message: String,
}

fn hit(check: &'static Check, message: String) -> Hit {
    Hit { check, message }
}

/// Checks of the member's header. `path` is relative, without a leading `/`.
pub fn header(e: &RawEntry, path: &str) -> Vec<Hit> {
    let mut out = Vec::new();
    let shown = format!("/{path}");
    let regular = matches!(e.typeflag, b'0' | 0 | b'7');
    if regular && e.mode & 0o6000 != 0 {
        let bits = match (e.mode & 0o4000 != 0, e.mode & 0o2000 != 0) {
            (true, true) => "setuid and setgid",
            (true, false) => "setuid",
            _ => "setgid",
        };
        out.push(hit(
            &checks::SETUID,
            format!("{shown} is {bits} (mode {:o})", e.mode),
        ));
    }
    let dir = e.typeflag == b'5';
    if (regular || dir) && e.mode & 0o002 != 0 && e.mode & 0o1000 == 0 {
        let what = if dir { "directory" } else { "file" };
        out.push(hit(
            &checks::WORLD_WRITABLE,
            format!(
                "{shown}: a world-writable {what} without the sticky bit (mode {:o})",
                e.mode
            ),
        ));
    }
    if e.xattrs.contains_key("security.capability") {
        out.push(hit(
            &checks::FILE_CAPABILITIES,
            format!("{shown} has file capabilities"),
        ));
    }
    if matches!(e.typeflag, b'3' | b'4') {
        let kind = if e.typeflag == b'3' {
            "character"
        } else {
            "block"
        };
        out.push(hit(
            &checks::DEVICE_NODE,
            format!("{shown}: a {kind} device {}:{}", e.devmajor, e.devminor),
        ));
    }
    if dir && (path == ".git" || path.ends_with("/.git")) {
        out.push(hit(
            &checks::GIT_DIRECTORY,
            format!("{shown}: a git repository (its history, remotes and maybe credentials)"),
        ));
    }
    out
}

/// Is this regular member's content read?
pub fn scanned(path: &str, size: u64) -> bool {
    size > 0 && size <= MAX_SCAN && !NOT_SCANNED.iter().any(|d| path.starts_with(d))
}

/// Checks of a small regular file's content.
pub fn content(path: &str, data: &[u8]) -> Vec<Hit> {
    let shown = format!("/{path}");
    let mut out = Vec::new();
    if is_core_dump(path, data) {
        out.push(hit(
            &checks::CORE_DUMP,
            format!("{shown}: a core dump (the memory of a crashed process)"),
        ));
        return out;
    }
    let head = &data[..data.len().min(8192)];
    if head.contains(&0) {
        return out;
    }
    let text = String::from_utf8_lossy(data);
    if let Some(what) = credential_file(path, &text) {
        out.push(hit(&checks::CREDENTIAL_FILE, format!("{shown}: {what}")));
    }
    let library = LIBRARIES
        .iter()
        .any(|l| format!("/{path}").contains(l) || path.starts_with(l));
    for s in secrets::find_with(&text, !library) {
        out.push(hit(s.check, format!("{} in {shown}", s.what)));
    }
    out
}

/// Files that hold a package registry's, git's or docker's credentials.
fn credential_file(path: &str, text: &str) -> Option<&'static str> {
    let base = path.rsplit('/').next().unwrap_or(path);
    // A credential's value, not a placeholder the runtime fills in (`${NPM_TOKEN}`).
    let has = |words: &[&str]| {
        words.iter().any(|w| {
            text.match_indices(w).any(|(i, _)| {
                let after = &text[i + w.len()..];
                let rest = after.trim_start_matches([' ', '=', ':', '"', '\'']);
                after.starts_with([' ', '=', ':', '"', '\''])
                    && !rest.is_empty()
                    && !rest.starts_with(['$', '\n'])
            })
        })
    };
    match base {
        ".npmrc" if has(&["_authToken", "_auth", "_password"]) => Some("npm registry credentials"),
        ".pypirc" if has(&["password"]) => Some("PyPI credentials"),
        ".netrc" if has(&["password"]) => Some("login credentials (.netrc)"),
        ".git-credentials" => Some("git credentials"),
        "config.json" if path.ends_with(".docker/config.json") && has(&["\"auth\""]) => {
            Some("registry credentials (docker config)")
        }
        "credentials" if path.ends_with(".aws/credentials") => Some("AWS credentials"),
        _ => None,
    }
}

/// Named like a core dump: `core` or `core.N`.
pub fn core_named(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base == "core"
        || base
            .strip_prefix("core.")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// An ELF core file (`e_type` 4) named like one; `data` may be just its first bytes.
fn is_core_dump(path: &str, data: &[u8]) -> bool {
    core_named(path) && data.starts_with(b"\x7fELF") && data.get(16..18) == Some(&[4, 0][..])
}

/// Checks of a core-named file too large to scan, from its first bytes.
pub fn core_header(path: &str, head: &[u8]) -> Option<Hit> {
    is_core_dump(path, head).then(|| {
        hit(
            &checks::CORE_DUMP,
            format!("/{path}: a core dump (the memory of a crashed process)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(typeflag: u8, mode: u32) -> RawEntry {
        RawEntry {
            name: Vec::new(),
            link: Vec::new(),
            typeflag,
            mode,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: (0, 0),
            devmajor: 0,
            devminor: 0,
            xattrs: Default::default(),
            unsupported_pax: None,
            offset: 0,
        }
    }

    fn ids(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.check.id).collect()
    }

    #[test]
    fn modes_types_and_names() {
        assert_eq!(ids(&header(&entry(b'0', 0o4755), "usr/bin/x")), ["KA002"]);
        assert_eq!(
            ids(&header(&entry(b'0', 0o0755), "usr/bin/x")),
            Vec::<&str>::new()
        );
        assert_eq!(ids(&header(&entry(b'5', 0o0777), "data")), ["KA003"]);
        assert_eq!(
            ids(&header(&entry(b'5', 0o1777), "tmp")),
            Vec::<&str>::new()
        );
        assert_eq!(
            ids(&header(&entry(b'2', 0o0777), "link")),
            Vec::<&str>::new()
        );
        assert_eq!(ids(&header(&entry(b'3', 0o0644), "dev/null")), ["KA005"]);
        assert_eq!(ids(&header(&entry(b'5', 0o0755), "app/.git")), ["KA022"]);
        let mut capped = entry(b'0', 0o0755);
        capped.xattrs.insert("security.capability".into(), vec![1]);
        assert_eq!(ids(&header(&capped, "usr/bin/ping")), ["KA004"]);
    }

    #[test]
    fn contents() {
        assert_eq!(
            ids(&content("root/.npmrc", b"//registry/:_authToken=abc\n")),
            ["KA023"]
        );
        assert_eq!(
            ids(&content("root/.npmrc", b"registry=https://x\n")),
            Vec::<&str>::new()
        );
        assert_eq!(
            ids(&content("root/.npmrc", b"//r/:_authToken=${NPM_TOKEN}\n")),
            Vec::<&str>::new()
        );
        let code = b"password = base64.b16encode(os.urandom(16))\n";
        assert_eq!(
            ids(&content("usr/lib/python3/dist-packages/x/auth.py", code)),
            Vec::<&str>::new()
        );
        let mut core = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x04\0".to_vec();
        core.extend_from_slice(&[0; 32]);
        assert_eq!(ids(&content("app/core.1234", &core)), ["KA024"]);
        assert!(core_header("app/core", &core[..20]).is_some());
        assert_eq!(ids(&content("app/core.rs", &core)), Vec::<&str>::new());
        assert!(!scanned("usr/share/doc/x/README", 10));
        assert!(scanned("app/config", 10) && !scanned("app/big", MAX_SCAN + 1));
    }
}
