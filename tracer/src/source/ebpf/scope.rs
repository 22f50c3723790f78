//! Scoped tracing (`tracer agent --cgroup PREFIX`): the kernel programs write records only for
//! processes in the given cgroup v2 subtrees, so a process outside them costs no ring
//! traffic and no userspace work. Each subtree is named by its path relative to the v2 root
//! (as `/proc/PID/cgroup` shows it) and handed to the programs as its cgroup id (the inode
//! of its directory) and its level; a process is in scope when that cgroup is its cgroup's
//! ancestor at that level. The subtrees must exist when tracing starts; cgroups created
//! inside them later are in scope at once.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use tracer_common::MAX_SCOPES;

/// A scope subtree, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// Its path relative to the v2 root, `/`-prefixed, as `/proc/PID/cgroup` shows it.
    pub path: PathBuf,
    /// Its cgroup id (the inode of its directory).
    pub id: u64,
    /// Its depth below the v2 root (the root is 0).
    pub level: u32,
}

/// The components of a scope path, which must be plain names (no `.` or `..`).
fn components(prefix: &Path) -> Result<Vec<&OsStr>, String> {
    let mut names = Vec::new();
    for component in prefix.components() {
        match component {
            Component::RootDir => {}
            Component::Normal(name) => names.push(name),
            _ => {
                return Err(format!(
                    "--cgroup {}: only plain names, no `.` or `..`",
                    prefix.display()
                ))
            }
        }
    }
    Ok(names)
}

/// Resolves the subtrees under the v2 hierarchy mounted at `mount`: each must be an existing
/// cgroup directory. At most [`MAX_SCOPES`].
pub fn resolve(prefixes: &[PathBuf], mount: &Path) -> Result<Vec<Scope>, String> {
    if prefixes.len() > MAX_SCOPES {
        return Err(format!(
            "--cgroup given {} times: at most {MAX_SCOPES} subtrees",
            prefixes.len()
        ));
    }
    prefixes
        .iter()
        .map(|prefix| {
            let names = components(prefix)?;
            let dir: PathBuf = std::iter::once(mount.as_os_str())
                .chain(names.iter().copied())
                .collect();
            let meta = std::fs::metadata(dir.join("cgroup.procs"))
                .and_then(|_| std::fs::metadata(&dir))
                .map_err(|e| {
                    format!(
                        "--cgroup {}: no such cgroup ({}: {e})",
                        prefix.display(),
                        dir.display()
                    )
                })?;
            let path: PathBuf = std::iter::once(OsStr::new("/"))
                .chain(names.iter().copied())
                .collect();
            Ok(Scope {
                path,
                id: meta.ino(),
                level: names.len() as u32,
            })
        })
        .collect()
}

/// Whether the cgroup v2 path `cgroup` (as `/proc/PID/cgroup` shows it) lies in one of the
/// subtrees.
pub fn contains(scopes: &[Scope], cgroup: &[u8]) -> bool {
    let cgroup = Path::new(OsStr::from_bytes(cgroup));
    scopes.iter().any(|scope| cgroup.starts_with(&scope.path))
}

/// Whether process `pid` runs in one of the subtrees now (false when it cannot be read).
pub fn process_in(scopes: &[Scope], pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cgroup"))
        .ok()
        .and_then(|text| crate::host::container::v2_path(&text).map(|path| contains(scopes, path)))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtrees_match_whole_components() {
        let scopes = [Scope {
            path: PathBuf::from("/a/b"),
            id: 7,
            level: 2,
        }];
        assert!(contains(&scopes, b"/a/b"));
        assert!(contains(&scopes, b"/a/b/c.scope"));
        assert!(!contains(&scopes, b"/a/bc"));
        assert!(!contains(&scopes, b"/a"));
    }

    #[test]
    fn paths_are_plain_names_under_an_existing_cgroup() {
        let mount = std::env::temp_dir().join(format!("tracer-scope-{}", std::process::id()));
        std::fs::create_dir_all(mount.join("x/y")).unwrap();
        std::fs::write(mount.join("x/y/cgroup.procs"), b"").unwrap();
        let scopes = resolve(&[PathBuf::from("/x/y")], &mount).expect("it exists");
        assert_eq!(scopes[0].level, 2);
        assert_eq!(scopes[0].path, Path::new("/x/y"));
        assert!(
            resolve(&[PathBuf::from("x")], &mount).is_err(),
            "no cgroup.procs"
        );
        assert!(resolve(&[PathBuf::from("/x/../x/y")], &mount).is_err());
        assert!(resolve(&vec![PathBuf::from("/x/y"); MAX_SCOPES + 1], &mount).is_err());
        std::fs::remove_dir_all(&mount).unwrap();
    }
}
