//! `--chown=user[:group]` resolved against the image's own `/etc/passwd` and `/etc/group`,
//! and USER for created directories.

use crate::accounts;

/// A uid/gid pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// Why a user or group could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerError {
    #[error("unable to find user {name}: no matching entries in passwd file")]
    UnknownUser { name: String },
    #[error("unable to find group {name}: no matching entries in group file")]
    UnknownGroup { name: String },
    #[error("invalid user/group {spec:?}: expected USER[:GROUP] with names or numbers")]
    Invalid { spec: String },
    #[error("user/group {spec:?} resolves to id 4294967295, which no process or file can have")]
    ReservedId { spec: String },
    #[error("the image's {path} is larger than {limit} bytes; kiln reads at most that much")]
    TooLarge { path: &'static str, limit: u64 },
}

/// The most of `/etc/passwd` or `/etc/group` that is read from an image.
pub const ACCOUNT_FILE_LIMIT: u64 = 16 << 20;

/// The content of the image's `/etc/passwd` or `/etc/group` (`None` when it is missing or
/// unreadable), at most [`ACCOUNT_FILE_LIMIT`] bytes: the file is the image's, so hostile.
pub fn read_account_file(
    root: &kiln_layer::Root,
    path: &'static str,
) -> Result<Option<String>, OwnerError> {
    use std::io::Read;
    let Ok(f) = root.open_file(path) else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    if f.take(ACCOUNT_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return Ok(None);
    }
    if bytes.len() as u64 > ACCOUNT_FILE_LIMIT {
        return Err(OwnerError::TooLarge {
            path,
            limit: ACCOUNT_FILE_LIMIT,
        });
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Resolve `spec` (`name`, `uid`, `name:group`, `uid:gid`, ...) with the contents of the
/// image's passwd and group files (`None` when the file does not exist). A user given
/// without a group gets the user's primary group from passwd, or the uid itself when the
/// user is numeric and not listed.
pub fn resolve(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<Owner, OwnerError> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if u.is_empty() || g == Some("") {
        return Err(OwnerError::Invalid { spec: spec.into() });
    }
    let entry = passwd
        .and_then(|p| accounts::find_user(p, u))
        .map(|e| (e.uid, e.gid));
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => match entry {
            Some((Some(uid), _)) => uid,
            _ => return Err(OwnerError::UnknownUser { name: u.into() }),
        },
    };
    let gid = match g {
        None => match entry {
            Some((_, Some(gid))) => gid,
            _ => uid,
        },
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .and_then(|gr| accounts::find_group_gid(gr, g))
                .ok_or_else(|| OwnerError::UnknownGroup { name: g.into() })?,
        },
    };
    if uid == u32::MAX || gid == u32::MAX {
        return Err(OwnerError::ReservedId { spec: spec.into() });
    }
    Ok(Owner { uid, gid })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:\napp:x:1001:\n";

    fn r(s: &str) -> Result<Owner, OwnerError> {
        resolve(s, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn names_numbers_and_defaults() {
        assert_eq!(
            r("app"),
            Ok(Owner {
                uid: 1000,
                gid: 1001
            })
        );
        assert_eq!(r("app:staff"), Ok(Owner { uid: 1000, gid: 50 }));
        assert_eq!(
            r("1000"),
            Ok(Owner {
                uid: 1000,
                gid: 1001
            })
        );
        assert_eq!(
            r("4242"),
            Ok(Owner {
                uid: 4242,
                gid: 4242
            })
        );
        assert_eq!(r("4242:7"), Ok(Owner { uid: 4242, gid: 7 }));
        assert_eq!(r("root:app"), Ok(Owner { uid: 0, gid: 1001 }));
        assert!(matches!(r("nobody"), Err(OwnerError::UnknownUser { .. })));
        assert!(matches!(
            r("app:nogroup"),
            Err(OwnerError::UnknownGroup { .. })
        ));
        assert!(matches!(r(":x"), Err(OwnerError::Invalid { .. })));
        assert!(matches!(
            r("4294967295"),
            Err(OwnerError::ReservedId { .. })
        ));
        assert!(matches!(
            r("0:4294967295"),
            Err(OwnerError::ReservedId { .. })
        ));
        assert!(matches!(
            resolve("app", None, None),
            Err(OwnerError::UnknownUser { .. })
        ));
    }
}
