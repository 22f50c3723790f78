//! Credentials and the user and group databases: the ids from `rustix`, the passwd and group
//! lookups (`getpwuid_r` and kin, which rustix lacks) from `nix`.

use nix::unistd::{Group, Uid, User};

/// The calling process's real uid.
pub(crate) fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// The calling process's effective uid.
pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Whether the calling process runs as root (effective uid 0).
#[cfg_attr(
    not(all(native_linux, feature = "cli")),
    allow(dead_code, reason = "its callers are the Linux-only commands")
)]
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The passwd name of a uid; `None` when the database has none (or cannot be read).
pub(crate) fn user_name(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// The uid of a user name; `None` when unknown.
pub(crate) fn uid_of_user(name: &str) -> Option<u32> {
    User::from_name(name).ok().flatten().map(|u| u.uid.as_raw())
}

/// The gid of a group name; `None` when unknown.
#[cfg_attr(
    not(all(native_linux, feature = "cli")),
    allow(dead_code, reason = "its callers are the Linux-only commands")
)]
pub(crate) fn gid_of_group(name: &str) -> Option<u32> {
    Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

/// The name of a gid; `None` when unknown.
#[cfg(test)]
fn group_name(gid: u32) -> Option<String> {
    Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_its_group_round_trip() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(uid_of_user("root"), Some(0));
        assert_eq!(uid_of_user("no-such-user-here"), None);
        let root_group = group_name(0).expect("gid 0 has a name");
        assert_eq!(gid_of_group(&root_group), Some(0));
        assert_eq!(gid_of_group("no-such-group-here"), None);
        assert_eq!(is_root(), euid() == 0);
        assert_eq!(uid(), rustix::process::getuid().as_raw());
    }
}
