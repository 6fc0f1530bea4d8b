//! The user the process runs as, its groups, HOME, and finding the program:
//! all resolved inside the container after pivot.

use std::ffi::CString;
use std::path::Path;

use nix::unistd::{Gid, Uid};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("process.user: {op}: {source}")]
    Switch {
        op: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    #[error("exec: {path:?}: {source}")]
    NotExecutable {
        path: String,
        #[source]
        source: nix::Error,
    },
}

/// Sets supplementary groups, gid and uid, keeping capabilities across the
/// uid change (they are set exactly afterwards).
pub fn switch(uid: u32, gid: u32, additional_gids: &[u32]) -> Result<(), UserError> {
    let e = |op| move |source| UserError::Switch { op, source };
    let groups: Vec<Gid> = additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
    // In a user namespace whose setgroups is denied, only an empty list is
    // meaningless to set; skip instead of failing there.
    if let Err(err) = nix::unistd::setgroups(&groups) {
        if !(groups.is_empty() && err == nix::errno::Errno::EPERM) {
            return Err(e("setgroups")(err));
        }
    }
    let gid = Gid::from_raw(gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(e("setresgid"))?;
    nix::sys::prctl::set_keepcaps(true).map_err(e("keep capabilities"))?;
    let uid = Uid::from_raw(uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(e("setresuid"))?;
    nix::sys::prctl::set_keepcaps(false).map_err(e("keep capabilities"))?;
    Ok(())
}

/// The /etc/passwd fields of `uid` (name, password, uid, gid, gecos, home, shell).
fn passwd_entry(uid: u32, passwd: &str) -> Option<Vec<&str>> {
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[2].parse::<u32>().ok() == Some(uid))
}

/// The home directory of `uid` from the container's /etc/passwd, or `/`.
pub fn home_of(uid: u32, passwd: &str) -> String {
    passwd_entry(uid, passwd).map_or_else(|| "/".to_string(), |f| f[5].to_string())
}

/// The login name of `uid` in /etc/passwd text, if any.
pub fn name_of(uid: u32, passwd: &str) -> Option<String> {
    passwd_entry(uid, passwd).map(|f| f[0].to_string())
}

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Resolves the program like execvp, with PATH from the process env.
pub fn find_program(arg0: &str, env: &[String]) -> Result<CString, UserError> {
    let check = |p: &str| {
        nix::unistd::access(Path::new(p), nix::unistd::AccessFlags::X_OK).and_then(|_| {
            match std::fs::metadata(p) {
                Ok(m) if m.is_dir() => Err(nix::errno::Errno::EACCES),
                Ok(_) => Ok(()),
                Err(e) => Err(nix::errno::Errno::from_raw(
                    e.raw_os_error().unwrap_or(libc::ENOENT),
                )),
            }
        })
    };
    if arg0.contains('/') {
        check(arg0).map_err(|source| UserError::NotExecutable {
            path: arg0.to_string(),
            source,
        })?;
        return CString::new(arg0).map_err(|_| UserError::NotFound(arg0.to_string()));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{dir}/{arg0}");
        if check(&candidate).is_ok() {
            return CString::new(candidate).map_err(|_| UserError::NotFound(arg0.to_string()));
        }
    }
    Err(UserError::NotFound(arg0.to_string()))
}

/// Sets the umask (runc's default is 0022).
pub fn set_umask(umask: Option<u32>) {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        umask.unwrap_or(0o022),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nbad line\nweb:x:33:33::/var/www:/bin/false\n";
        assert_eq!(home_of(0, passwd), "/root");
        assert_eq!(home_of(33, passwd), "/var/www");
        assert_eq!(home_of(1000, passwd), "/");
        assert_eq!(name_of(33, passwd).as_deref(), Some("web"));
        assert_eq!(name_of(7, passwd), None);
    }

    #[test]
    fn program_lookup_uses_env_path() {
        let env = vec!["PATH=/nonexistent:/bin".to_string()];
        assert_eq!(
            find_program("sh", &env).unwrap().to_str().unwrap(),
            "/bin/sh"
        );
        assert!(matches!(
            find_program("no-such-program-xyz", &env),
            Err(UserError::NotFound(_))
        ));
        assert!(matches!(
            find_program("/etc/passwd", &env),
            Err(UserError::NotExecutable { .. })
        ));
        let e = find_program("no-such-program-xyz", &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "exec: \"no-such-program-xyz\": executable file not found in $PATH"
        );
    }
}
