//! The one parser of an image's account files, `/etc/passwd` and `/etc/group`, for
//! `COPY --chown`, `USER` and the groups and home of a RUN step. The text is the image's,
//! so hostile: lines that are too short or have non-numeric ids are passed over, never
//! trusted. Reading the files (at most [`crate::copy::owner::ACCOUNT_FILE_LIMIT`] bytes)
//! is [`crate::copy::owner::read_account_file`]'s job.

/// One line of `/etc/passwd` (`name:password:uid:gid:gecos:home:shell`), at least four
/// fields; missing trailing fields are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry<'a> {
    /// Login name.
    pub name: &'a str,
    /// The uid field as written (compared as text, as runc does).
    pub uid_field: &'a str,
    /// The uid, `None` if the field is not a number.
    pub uid: Option<u32>,
    /// The primary gid, `None` if the field is not a number.
    pub gid: Option<u32>,
    /// Home directory (empty when the line has none).
    pub home: &'a str,
}

/// One line of `/etc/group` (`name:password:gid:member,member`), at least three fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry<'a> {
    /// Group name.
    pub name: &'a str,
    /// The gid, `None` if the field is not a number.
    pub gid: Option<u32>,
    /// The comma-separated member list (empty when the line has none).
    members: &'a str,
}

impl GroupEntry<'_> {
    /// True if `user` is listed as a member.
    pub fn has_member(&self, user: &str) -> bool {
        self.members.split(',').any(|m| m.trim() == user)
    }
}

/// The entries of a passwd file, in order.
pub fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let [name, _, uid, gid, ..] = f.as_slice() else {
            return None;
        };
        Some(PasswdEntry {
            name,
            uid_field: uid,
            uid: uid.parse().ok(),
            gid: gid.parse().ok(),
            home: f.get(5).copied().unwrap_or_default(),
        })
    })
}

/// The entries of a group file, in order.
pub fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let [name, _, gid, ..] = f.as_slice() else {
            return None;
        };
        Some(GroupEntry {
            name,
            gid: gid.parse().ok(),
            members: f.get(3).copied().unwrap_or_default(),
        })
    })
}

/// The first passwd entry for `user`: by name, or, when `user` is a number, by uid.
pub fn find_user<'a>(passwd: &'a str, user: &str) -> Option<PasswdEntry<'a>> {
    let numeric = user.parse::<u32>().is_ok();
    passwd_entries(passwd).find(|e| e.name == user || (numeric && e.uid_field == user))
}

/// The gid of the first group called `name` that has a numeric gid.
pub fn find_group_gid(group: &str, name: &str) -> Option<u32> {
    group_entries(group).find_map(|e| (e.name == name).then_some(e.gid)?)
}

/// The gids of the groups that list `user` as a member (4294967295, which no process can
/// have, left out).
pub fn member_gids(group: &str, user: &str) -> Vec<u32> {
    group_entries(group)
        .filter(|e| e.has_member(user))
        .filter_map(|e| e.gid)
        .filter(|gid| *gid != u32::MAX)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        short:x:7\n\
        app:x:1000:1001::/home/app:/bin/sh\n\
        bad:x:abc:1\n\
        four:x:1200:1200\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:app, other\nbroken:x:nan:app\n\
        staff:x:51:\nwheel:x:10:root\nnomembers:x:60\nmax:x:4294967295:app\n";

    /// `COPY --chown` and `USER`: users by name and by uid, primary gids.
    #[test]
    fn users_by_name_and_uid() {
        let app = find_user(PASSWD, "app").expect("app");
        assert_eq!(
            (app.uid, app.gid, app.home),
            (Some(1000), Some(1001), "/home/app")
        );
        assert_eq!(find_user(PASSWD, "1000").map(|e| e.name), Some("app"));
        assert_eq!(find_user(PASSWD, "01000"), None, "uids compare as text");
        assert_eq!(find_user(PASSWD, "short"), None, "fewer than four fields");
        let bad = find_user(PASSWD, "bad").expect("bad");
        assert_eq!((bad.uid, bad.gid), (None, Some(1)));
        assert_eq!(find_user(PASSWD, "four").map(|e| e.home), Some(""));
        assert_eq!(find_user("", "root"), None);
    }

    /// `--chown=user:group`: the first group of that name with a numeric gid.
    #[test]
    fn groups_by_name() {
        assert_eq!(find_group_gid(GROUP, "staff"), Some(50));
        assert_eq!(find_group_gid(GROUP, "broken"), None);
        assert_eq!(find_group_gid(GROUP, "nomembers"), Some(60));
        assert_eq!(find_group_gid(GROUP, "nobody"), None);
    }

    /// RUN's supplementary groups: memberships, numeric gids only, never 4294967295.
    #[test]
    fn memberships() {
        assert_eq!(member_gids(GROUP, "app"), vec![50]);
        assert_eq!(member_gids(GROUP, "other"), vec![50]);
        assert_eq!(member_gids(GROUP, "root"), vec![10]);
        assert_eq!(member_gids(GROUP, "nobody"), Vec::<u32>::new());
    }
}
