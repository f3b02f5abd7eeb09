//! The checks an audit runs, with their stable IDs and severities. Each is documented in
//! `docs/audit/README.md` (a test keeps the two in step).

use crate::finding::Severity;

/// One check.
#[derive(Debug, PartialEq, Eq)]
pub struct Check {
    /// Stable ID, `KAnnn`.
    pub id: &'static str,
    /// Stable short name.
    pub name: &'static str,
    pub severity: Severity,
}

macro_rules! checks {
    ($($konst:ident = $id:literal, $name:literal, $sev:ident;)*) => {
        $(pub const $konst: Check = Check { id: $id, name: $name, severity: Severity::$sev };)*
        /// Every check, in ID order.
        pub const ALL: &[Check] = &[$($konst),*];
    };
}

checks! {
    ROOT_USER = "KA001", "runs-as-root", Medium;
    SETUID = "KA002", "setuid-setgid-file", Medium;
    WORLD_WRITABLE = "KA003", "world-writable", Medium;
    FILE_CAPABILITIES = "KA004", "file-capabilities", Medium;
    DEVICE_NODE = "KA005", "device-node", Low;
    PRIVATE_KEY = "KA010", "private-key", High;
    CLOUD_CREDENTIAL = "KA011", "cloud-credential", Critical;
    TOKEN = "KA012", "token-or-password", High;
    SECRET_IN_ENV = "KA013", "secret-in-env", High;
    SECRET_IN_LABEL = "KA014", "secret-in-label", High;
    SECRET_IN_HISTORY = "KA015", "secret-in-history", High;
    PASSWORD_HASH = "KA020", "shadow-password-hash", Medium;
    EMPTY_PASSWORD = "KA021", "empty-password", High;
    GIT_DIRECTORY = "KA022", "git-directory", Low;
    CREDENTIAL_FILE = "KA023", "credential-file", High;
    CORE_DUMP = "KA024", "core-dump", Low;
    CARD_NUMBER = "KA025", "card-number", High;
    PACKAGE_LEFTOVERS = "KA030", "package-manager-leftovers", Low;
    TEMP_FILES = "KA031", "temp-files", Low;
    WASTED_SPACE = "KA032", "wasted-space", Low;
    NO_HEALTHCHECK = "KA040", "no-healthcheck", Low;
    EXPOSES_SSH = "KA041", "exposes-ssh", Medium;
    DUPLICATE_UID = "KA042", "duplicate-uid", Medium;
}

/// The check with this ID or name.
pub fn find(id_or_name: &str) -> Option<&'static Check> {
    ALL.iter()
        .find(|c| c.id.eq_ignore_ascii_case(id_or_name) || c.name == id_or_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_ordered_and_documented() {
        let doc = include_str!("../../../docs/audit/README.md");
        for pair in ALL.windows(2) {
            assert!(
                pair[0].id < pair[1].id,
                "{} before {}",
                pair[0].id,
                pair[1].id
            );
        }
        for c in ALL {
            let row = format!("| {} | {} | {} |", c.id, c.name, c.severity.as_str());
            assert!(doc.contains(&row), "docs/audit/README.md lacks {row}");
        }
        assert_eq!(find("ka001"), Some(&ROOT_USER));
        assert_eq!(find("private-key"), Some(&PRIVATE_KEY));
    }
}
