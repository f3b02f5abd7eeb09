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
    for s in secrets::find(&text) {
        out.push(hit(s.check, format!("{} in {shown}", s.what)));
    }
    out
}

/// Files that hold a package registry's, git's or docker's credentials.
fn credential_file(path: &str, text: &str) -> Option<&'static str> {
    let base = path.rsplit('/').next().unwrap_or(path);
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
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

/// An ELF core file (`e_type` 4), named `core` or `core.N`.
fn is_core_dump(path: &str, data: &[u8]) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    let named = base == "core"
        || base
            .strip_prefix("core.")
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
    named && data.len() > 18 && data.starts_with(b"\x7fELF") && data[16] == 4 && data[17] == 0
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
        let mut core = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x04\0".to_vec();
        core.extend_from_slice(&[0; 32]);
        assert_eq!(ids(&content("app/core.1234", &core)), ["KA024"]);
        assert_eq!(ids(&content("app/core.rs", &core)), Vec::<&str>::new());
        assert!(!scanned("usr/share/doc/x/README", 10));
        assert!(scanned("app/config", 10) && !scanned("app/big", MAX_SCAN + 1));
    }
}
