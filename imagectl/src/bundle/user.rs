//! `Config.User` to `process.user`, per image-spec conversion.md: numeric
//! parts are copied verbatim; names are looked up in the image's own
//! `/etc/passwd` and `/etc/group` (never the host's), and an unknown name
//! is an error. `additionalGids` come from `/etc/group` membership, and
//! only when the user was given by name without a group (as conversion.md
//! says: not for a numeric user, not when a group is given).
//!
//! Pure: the caller reads the two files (inside the rootfs) and passes
//! their text.

/// The resolved user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The passwd entry's home, when the user has one (for `HOME`).
    pub home: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("user {0:?}: no such user in the image's /etc/passwd")]
    UnknownUser(String),
    #[error("group {0:?}: no such group in the image's /etc/group")]
    UnknownGroup(String),
    #[error("user {0:?}: not of the form user, uid, user:group or uid:gid")]
    Malformed(String),
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|l| {
        if l.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f.get(5).copied().unwrap_or(""),
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|l| {
        if l.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 3 {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f
                .get(3)
                .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
        })
    })
}

/// Resolves `spec` (`Config.User`; empty means root) against the image's
/// passwd and group texts (`None` when the file is missing).
pub fn resolve(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<User, UserError> {
    let spec = spec.trim();
    if spec.is_empty() {
        let home = passwd.and_then(|p| {
            passwd_entries(p)
                .find(|e| e.uid == 0)
                .map(|e| e.home.to_string())
        });
        return Ok(User {
            home: home.filter(|h| !h.is_empty()),
            ..User::default()
        });
    }
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if u.is_empty() || g == Some("") {
        return Err(UserError::Malformed(spec.into()));
    }
    let passwd = passwd.unwrap_or("");
    let numeric_user = u.parse::<u32>().ok();
    let entry = match numeric_user {
        Some(uid) => passwd_entries(passwd).find(|e| e.uid == uid),
        None => Some(
            passwd_entries(passwd)
                .find(|e| e.name == u)
                .ok_or_else(|| UserError::UnknownUser(u.into()))?,
        ),
    };
    let uid = numeric_user.or(entry.as_ref().map(|e| e.uid)).unwrap_or(0);
    let home = entry
        .as_ref()
        .map(|e| e.home.to_string())
        .filter(|h| !h.is_empty());
    let groups = group.unwrap_or("");
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                group_entries(groups)
                    .find(|e| e.name == g)
                    .ok_or_else(|| UserError::UnknownGroup(g.into()))?
                    .gid
            }
        },
        None => entry.as_ref().map(|e| e.gid).unwrap_or(0),
    };
    let mut additional_gids = Vec::new();
    if g.is_none() && numeric_user.is_none() {
        for ge in group_entries(groups) {
            if ge.members.contains(&u) && !additional_gids.contains(&ge.gid) {
                additional_gids.push(ge.gid);
            }
        }
    }
    Ok(User {
        uid,
        gid,
        additional_gids,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        # a comment\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n\
        nobody:x:65534:65534:nobody:/:/bin/false\n\
        broken line\n";
    const GROUP: &str =
        "root:x:0:\nwheel:x:10:app,other\napp:x:1000:\naudio:x:29:app\nnogroup:x:65534:\n";

    fn r(s: &str) -> Result<User, UserError> {
        resolve(s, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn empty_user_is_root_with_roots_home() {
        assert_eq!(
            r("").unwrap(),
            User {
                home: Some("/root".into()),
                ..User::default()
            }
        );
        assert_eq!(resolve("", None, None).unwrap(), User::default());
    }

    #[test]
    fn name_gets_passwd_ids_and_group_membership() {
        let u = r("app").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, [10, 29]);
        assert_eq!(u.home.as_deref(), Some("/home/app"));
    }

    #[test]
    fn numeric_user_is_verbatim_without_additional_gids() {
        let u = r("1000").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert!(u.additional_gids.is_empty());
        // Not in passwd: still fine, gid 0.
        let u = r("4242").unwrap();
        assert_eq!((u.uid, u.gid, u.home), (4242, 0, None));
        let u = resolve("7", None, None).unwrap();
        assert_eq!((u.uid, u.gid), (7, 0));
    }

    #[test]
    fn explicit_group_wins_and_drops_additional_gids() {
        let u = r("app:wheel").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        assert!(u.additional_gids.is_empty());
        let u = r("1000:29").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 29));
        let u = r("5:5").unwrap();
        assert_eq!((u.uid, u.gid), (5, 5));
        let u = r("0:nogroup").unwrap();
        assert_eq!((u.uid, u.gid), (0, 65534));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(r("ghost"), Err(UserError::UnknownUser("ghost".into())));
        assert_eq!(
            r("app:ghosts"),
            Err(UserError::UnknownGroup("ghosts".into()))
        );
        assert_eq!(
            resolve("app", None, None),
            Err(UserError::UnknownUser("app".into()))
        );
        assert_eq!(r(":0"), Err(UserError::Malformed(":0".into())));
        assert_eq!(r("app:"), Err(UserError::Malformed("app:".into())));
    }
}
