//! Where a process runs: its cgroup v2 path and id, the container and Kubernetes pod that path
//! names, its namespaces, and its ids inside its own PID namespace — as `/proc/PID/cgroup`,
//! `/proc/PID/ns/*` and `/proc/PID/status` show them.
//!
//! The v2 hierarchy is found from the mounts (`/proc/self/mountinfo`, parsed by `procfs-core`),
//! never at a fixed path: pure v2 hosts, hybrid hosts (v2 at `/sys/fs/cgroup/unified` next to
//! the v1 controllers) and v1-only hosts, where the cgroup fields are null and one notice says
//! why. The `0::` line of `/proc/PID/cgroup` is found by hand rather than with `procfs-core`'s
//! `ProcessCGroups`, which allocates every line of the file on a path taken per event and needs
//! UTF-8 paths.
//!
//! Container ids, runtimes and pod uids are parsed from the cgroup path, for the shapes the
//! runtimes use with both the systemd and the cgroupfs drivers; names (container names, pod
//! names) are not in the path: they need the runtime's or the kubelet's API.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a process runs. Every field is `None` where the backend cannot tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Its cgroup v2, with what the path tells of its container and pod.
    pub cgroup: Option<Arc<Cgroup>>,
    /// Its namespaces' inode numbers.
    pub namespaces: Namespaces,
    /// Its pid in its own PID namespace (the last `NSpid` of `/proc/PID/status`).
    pub vpid: Option<u32>,
    /// Its parent's pid in its own PID namespace: 0 when the parent is outside it (the
    /// namespace's init), as `getppid()` says there.
    pub vppid: Option<u32>,
}

/// A cgroup v2, as a process's `0::` line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    /// The path relative to the v2 root, as `/proc/PID/cgroup`'s `0::` line shows it.
    pub path: OsString,
    /// The kernel's id of the cgroup: on 64-bit kernels the inode number of its directory
    /// (`None` when the directory is gone or unreadable).
    pub id: Option<u64>,
    /// The container the path names (the innermost one).
    pub container: Option<Container>,
    /// The Kubernetes pod uid the path names (`kubepods…pod<uid>`), with dashes.
    pub pod_uid: Option<String>,
}

/// A container named by a cgroup path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The full id (64 lowercase hex digits), or `None` where the runtime has none
    /// (systemd-nspawn machines).
    pub id: Option<String>,
    /// The runtime whose shape the path has (`None` when the shape is a bare id, which
    /// containerd and docker both use under a Kubernetes pod with the cgroupfs driver).
    pub runtime: Option<&'static str>,
}

/// A process's namespaces, as the inode numbers `/proc/PID/ns/*` show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Namespaces {
    /// `pid` (the namespace the process's pid lives in).
    pub pid: Option<u64>,
    /// `mnt`.
    pub mnt: Option<u64>,
    /// `net`.
    pub net: Option<u64>,
    /// `user`.
    pub user: Option<u64>,
    /// `uts`.
    pub uts: Option<u64>,
    /// `ipc`.
    pub ipc: Option<u64>,
    /// `cgroup`.
    pub cgroup: Option<u64>,
}

/// The namespace kinds, as `/proc/PID/ns/` names them, in the fields' order.
pub const NAMESPACE_KINDS: [&str; 7] = ["pid", "mnt", "net", "user", "uts", "ipc", "cgroup"];

impl Namespaces {
    /// The inode of one kind (a name of [`NAMESPACE_KINDS`]).
    pub fn get(&self, kind: &str) -> Option<u64> {
        match kind {
            "pid" => self.pid,
            "mnt" => self.mnt,
            "net" => self.net,
            "user" => self.user,
            "uts" => self.uts,
            "ipc" => self.ipc,
            "cgroup" => self.cgroup,
            _ => None,
        }
    }

    #[cfg_attr(
        not(native_linux),
        allow(dead_code, reason = "filled from /proc, which is Linux's")
    )]
    fn slot(&mut self, kind: &str) -> Option<&mut Option<u64>> {
        Some(match kind {
            "pid" => &mut self.pid,
            "mnt" => &mut self.mnt,
            "net" => &mut self.net,
            "user" => &mut self.user,
            "uts" => &mut self.uts,
            "ipc" => &mut self.ipc,
            "cgroup" => &mut self.cgroup,
            _ => return None,
        })
    }
}

impl Placement {
    /// The cgroup path.
    pub fn cgroup_path(&self) -> Option<&OsStr> {
        self.cgroup.as_deref().map(|c| c.path.as_os_str())
    }

    /// The cgroup id.
    pub fn cgroup_id(&self) -> Option<u64> {
        self.cgroup.as_deref().and_then(|c| c.id)
    }

    /// The container id.
    pub fn container_id(&self) -> Option<&str> {
        self.container().and_then(|c| c.id.as_deref())
    }

    /// The container runtime.
    pub fn container_runtime(&self) -> Option<&'static str> {
        self.container().and_then(|c| c.runtime)
    }

    /// The Kubernetes pod uid.
    pub fn pod_uid(&self) -> Option<&str> {
        self.cgroup.as_deref().and_then(|c| c.pod_uid.as_deref())
    }

    fn container(&self) -> Option<&Container> {
        self.cgroup.as_deref().and_then(|c| c.container.as_ref())
    }
}

/// Which cgroup hierarchies the host mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// A cgroup v2 hierarchy is mounted here; `hybrid` when v1 controllers are mounted too.
    V2 {
        /// Its mount point.
        mount: PathBuf,
        /// v1 hierarchies are mounted next to it.
        hybrid: bool,
    },
    /// Only v1 hierarchies: there is no v2 path or id to show.
    V1Only,
    /// No cgroup filesystem is mounted.
    None,
}

impl Hierarchy {
    /// Finds the hierarchies from `/proc/self/mountinfo`.
    #[cfg(target_os = "linux")]
    pub fn discover() -> Hierarchy {
        match std::fs::read("/proc/self/mountinfo") {
            Ok(text) => Hierarchy::from_mountinfo(&text),
            Err(_) => Hierarchy::None,
        }
    }

    /// Finds the hierarchies in the text of a `mountinfo` file. The v2 mount whose root is
    /// the hierarchy's root is preferred (a bind mount of a subtree shows a different root).
    #[cfg(target_os = "linux")]
    pub fn from_mountinfo(text: &[u8]) -> Hierarchy {
        use procfs_core::FromBufRead;
        let Ok(mounts) = procfs_core::process::MountInfos::from_buf_read(text) else {
            return Hierarchy::None;
        };
        let v1 = mounts.iter().any(|m| m.fs_type == "cgroup");
        let mut v2: Vec<_> = mounts.iter().filter(|m| m.fs_type == "cgroup2").collect();
        v2.sort_by_key(|m| m.root != "/");
        match v2.first() {
            Some(mount) => Hierarchy::V2 {
                mount: unescape_mount_path(mount.mount_point.as_os_str()),
                hybrid: v1,
            },
            None if v1 => Hierarchy::V1Only,
            None => Hierarchy::None,
        }
    }

    /// The v2 mount point.
    pub fn v2_mount(&self) -> Option<&Path> {
        match self {
            Hierarchy::V2 { mount, .. } => Some(mount),
            _ => None,
        }
    }

    /// One line for the user when the cgroup fields cannot be filled, `None` when they can.
    pub fn notice(&self) -> Option<&'static str> {
        match self {
            Hierarchy::V2 { .. } => None,
            Hierarchy::V1Only => Some(
                "this host mounts only cgroup v1 hierarchies: cgroup, cgroup_id, container_id, \
                 container_runtime and pod_uid are null (they name the v2 cgroup)",
            ),
            Hierarchy::None => Some(
                "no cgroup filesystem is mounted: cgroup, cgroup_id, container_id, \
                 container_runtime and pod_uid are null",
            ),
        }
    }
}

/// `mountinfo` escapes space, tab, newline and backslash in paths as `\ooo` octal.
#[cfg(target_os = "linux")]
fn unescape_mount_path(path: &OsStr) -> PathBuf {
    let bytes = path.as_encoded_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let (b'\\', Some(digits)) = (bytes[i], bytes.get(i + 1..i + 4)) {
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(OsString::from_vec(out))
}

/// The path of the `0::` line of a `/proc/PID/cgroup` text (`None` without one: a v1-only
/// host).
pub fn v2_path(cgroup_file: &[u8]) -> Option<&[u8]> {
    cgroup_file
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"0::"))
}

/// The container and pod a cgroup path names. The innermost container segment wins (a
/// process in a sub-cgroup of a container, or a container in a container).
pub fn parse_path(path: &[u8]) -> (Option<Container>, Option<String>) {
    let mut container = None;
    let mut pod = None;
    let mut parent: &[u8] = b"";
    for segment in path.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
        if let Some(found) = container_segment(segment, parent) {
            container = Some(found);
        }
        if let Some(uid) = pod_segment(segment) {
            pod = Some(uid);
        }
        parent = segment;
    }
    (container, pod)
}

/// A container named by one path segment (its parent segment tells the cgroupfs shapes).
fn container_segment(segment: &[u8], parent: &[u8]) -> Option<Container> {
    let hex = |runtime: &'static str, id: &[u8]| {
        is_container_id(id).then(|| Container {
            id: Some(String::from_utf8_lossy(id).into_owned()),
            runtime: Some(runtime),
        })
    };
    // systemd driver: `<prefix><id>.scope`.
    if let Some(stem) = segment.strip_suffix(b".scope") {
        const SCOPES: [(&[u8], &str); 5] = [
            (b"docker-", "docker"),
            (b"cri-containerd-", "containerd"),
            (b"crio-", "cri-o"),
            (b"libpod-", "podman"),
            (b"nerdctl-", "containerd"),
        ];
        for (prefix, runtime) in SCOPES {
            if let Some(id) = stem.strip_prefix(prefix) {
                return hex(runtime, id);
            }
        }
        // `machine.slice/machine-<name>.scope`: a systemd-nspawn machine (also
        // systemd-machined's other guests; podman's are `libpod-` above).
        if parent == b"machine.slice" && stem.starts_with(b"machine-") {
            return Some(Container {
                id: None,
                runtime: Some("systemd-nspawn"),
            });
        }
        return None;
    }
    // `machine.slice/systemd-nspawn@<name>.service`.
    if parent == b"machine.slice"
        && segment.starts_with(b"systemd-nspawn@")
        && segment.ends_with(b".service")
    {
        return Some(Container {
            id: None,
            runtime: Some("systemd-nspawn"),
        });
    }
    // cgroupfs driver: `crio-<id>`, `libpod-<id>` as directories.
    for (prefix, runtime) in [(&b"crio-"[..], "cri-o"), (&b"libpod-"[..], "podman")] {
        if let Some(id) = segment.strip_prefix(prefix) {
            if let Some(found) = hex(runtime, id) {
                return Some(found);
            }
        }
    }
    // cgroupfs driver: a bare id under its runtime's directory, or under a pod.
    if is_container_id(segment) {
        let runtime = match parent {
            b"docker" | b"moby" => Some("docker"),
            b"k8s.io" | b"default" | b"containerd" => Some("containerd"),
            b"lxc.payload" => Some("lxc"),
            _ => None,
        };
        return Some(Container {
            id: Some(String::from_utf8_lossy(segment).into_owned()),
            runtime,
        });
    }
    None
}

/// A Kubernetes pod uid from one segment: `pod<uid>` (cgroupfs) or
/// `kubepods[-<qos>]-pod<uid_with_underscores>.slice` (systemd).
fn pod_segment(segment: &[u8]) -> Option<String> {
    let uid = if let Some(stem) = segment.strip_suffix(b".slice") {
        if !stem.starts_with(b"kubepods") {
            return None;
        }
        let at = find(stem, b"-pod")?;
        &stem[at + 4..]
    } else {
        segment.strip_prefix(b"pod")?
    };
    let uid: String = uid
        .iter()
        .map(|&b| if b == b'_' { '-' } else { char::from(b) })
        .collect();
    is_uuid(&uid).then_some(uid)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// 64 lowercase hex digits.
pub fn is_container_id(id: &[u8]) -> bool {
    id.len() == 64 && id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A UUID as Kubernetes writes pod uids: 8-4-4-4-12 hex digits.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The inode in a namespace link's target, `net:[4026531840]`.
pub fn namespace_inode(link: &[u8]) -> Option<u64> {
    let start = link.iter().position(|&b| b == b'[')? + 1;
    let end = link.iter().rposition(|&b| b == b']')?;
    std::str::from_utf8(link.get(start..end)?)
        .ok()?
        .parse()
        .ok()
}

/// `PPid:` and the `NSpid:` list of a `/proc/PID/status` text.
pub fn status_ids(status: &[u8]) -> (Option<u32>, Vec<u32>) {
    let mut ppid = None;
    let mut nspid = Vec::new();
    for line in status.split(|&b| b == b'\n') {
        if let Some(value) = line.strip_prefix(b"PPid:") {
            ppid = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
        } else if let Some(value) = line.strip_prefix(b"NSpid:") {
            nspid = value
                .split(|b| b.is_ascii_whitespace())
                .filter(|t| !t.is_empty())
                .filter_map(|t| std::str::from_utf8(t).ok()?.parse().ok())
                .collect();
            break; // NSpid comes after PPid
        }
    }
    (ppid, nspid)
}

/// The parent's pid as the child's PID namespace sees it: the child's namespace is at level
/// `child_levels - 1`; the parent shows there when its own list reaches that level (PID
/// namespaces nest, and a child's levels above its own are its parent's), else 0.
pub fn vppid(child_levels: usize, parent_nspid: &[u32]) -> u32 {
    child_levels
        .checked_sub(1)
        .and_then(|level| parent_nspid.get(level))
        .copied()
        .unwrap_or(0)
}

#[cfg(target_os = "linux")]
pub use reader::PlacementReader;

/// Elsewhere than Linux nothing tells cgroups or namespaces: every placement is unknown.
#[cfg(not(target_os = "linux"))]
#[derive(Debug, Clone, Default)]
pub struct PlacementReader;

#[cfg(not(target_os = "linux"))]
impl PlacementReader {
    /// A reader that knows nothing.
    pub fn new() -> Self {
        PlacementReader
    }

    /// Another reader that knows nothing.
    pub fn fresh(&self) -> Self {
        PlacementReader
    }

    /// Always `None`.
    pub fn read(&mut self, _pid: u32) -> Option<Placement> {
        None
    }

    /// Always `None`.
    pub fn cgroup_by_id(&mut self, _id: u64, _pid: u32) -> Option<Arc<Cgroup>> {
        None
    }
}

#[cfg(target_os = "linux")]
mod reader {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::ffi::OsStringExt;

    /// Most cgroups whose parse is cached: past it the cache starts over.
    const MAX_CGROUPS: usize = 4096;

    /// Most directories one walk of the v2 hierarchy visits, looking for a cgroup by id.
    const MAX_WALK: usize = 65_536;

    /// Reads where processes run from `/proc`, sharing one [`Cgroup`] per path (a storm in one
    /// cgroup allocates its path once). The cache is bounded (4,096 cgroups) and an entry is
    /// replaced when the directory's inode changed (a cgroup removed and created again).
    #[derive(Debug, Clone)]
    pub struct PlacementReader {
        proc_root: PathBuf,
        hierarchy: Hierarchy,
        cgroups: HashMap<Vec<u8>, Arc<Cgroup>>,
        /// The same cgroups by the id the kernel programs read.
        by_id: HashMap<u64, Arc<Cgroup>>,
        /// Ids a walk of the hierarchy did not find (removed already): not walked for again.
        unresolved: std::collections::HashSet<u64>,
        /// Times the cgroup cache started over.
        pub cache_resets: u64,
        /// Walks of the v2 hierarchy made to resolve an id.
        pub walks: u64,
    }

    impl Default for PlacementReader {
        fn default() -> Self {
            Self::new()
        }
    }

    impl PlacementReader {
        /// A reader of `/proc`, with the hierarchies found from the mounts.
        pub fn new() -> Self {
            Self::with_root("/proc", Hierarchy::discover())
        }

        /// A reader of a procfs at `proc_root` with a given hierarchy (for fixtures).
        pub fn with_root(proc_root: impl Into<PathBuf>, hierarchy: Hierarchy) -> Self {
            Self {
                proc_root: proc_root.into(),
                hierarchy,
                cgroups: HashMap::new(),
                by_id: HashMap::new(),
                unresolved: std::collections::HashSet::new(),
                cache_resets: 0,
                walks: 0,
            }
        }

        /// A reader of the same `/proc` and hierarchies with nothing cached: what one request
        /// of many uses, without reading the mounts again (a `mountinfo` parse per query).
        pub fn fresh(&self) -> Self {
            Self::with_root(self.proc_root.clone(), self.hierarchy.clone())
        }

        /// The hierarchies it reads.
        pub fn hierarchy(&self) -> &Hierarchy {
            &self.hierarchy
        }

        fn pid_path(&self, pid: u32, name: &str) -> PathBuf {
            let mut path = self.proc_root.join(pid.to_string());
            path.push(name);
            path
        }

        /// Where `pid` runs now; fields that cannot be read (the process is gone, or a zombie has
        /// let go of its namespaces) are `None`. `None` in all when the process is gone.
        pub fn read(&mut self, pid: u32) -> Option<Placement> {
            let status = std::fs::read(self.pid_path(pid, "status")).ok()?;
            let (ppid, nspid) = status_ids(&status);
            let mut placement = Placement {
                cgroup: self.read_cgroup(pid),
                namespaces: self.read_namespaces(pid),
                vpid: nspid.last().copied(),
                vppid: None,
            };
            placement.vppid = match ppid {
                Some(0) => Some(0),
                // In the initial PID namespace the parent's pid is its own.
                Some(ppid) if nspid.len() == 1 => Some(ppid),
                Some(ppid) if !nspid.is_empty() => std::fs::read(self.pid_path(ppid, "status"))
                    .ok()
                    .map(|parent| vppid(nspid.len(), &status_ids(&parent).1)),
                _ => None,
            };
            Some(placement)
        }

        /// The cgroup `pid` is in now.
        pub fn read_cgroup(&mut self, pid: u32) -> Option<Arc<Cgroup>> {
            let mount = self.hierarchy.v2_mount()?.to_path_buf();
            let file = std::fs::read(self.pid_path(pid, "cgroup")).ok()?;
            let path = v2_path(&file)?;
            Some(self.cgroup(&mount, path))
        }

        /// The shared [`Cgroup`] whose id the kernel read for `pid`. Cached by id (v2 ids are
        /// not reused and v2 cgroups cannot be renamed, so an id names one path for good); on
        /// a miss the path comes from `/proc/PID/cgroup` when the process is still in that
        /// cgroup, else from one walk of the v2 hierarchy (bounded). `None` when no cgroup
        /// has that id any more, or the host has no v2 hierarchy.
        pub fn cgroup_by_id(&mut self, id: u64, pid: u32) -> Option<Arc<Cgroup>> {
            if let Some(cached) = self.by_id.get(&id) {
                return Some(Arc::clone(cached));
            }
            let mount = self.hierarchy.v2_mount()?.to_path_buf();
            if self.unresolved.contains(&id) {
                return None;
            }
            let found = self
                .read_cgroup(pid)
                .filter(|cgroup| cgroup.id == Some(id))
                .or_else(|| {
                    self.walks += 1;
                    let path = find_cgroup(&mount, id)?;
                    Some(self.cgroup(&mount, &path)).filter(|cgroup| cgroup.id == Some(id))
                });
            if self.by_id.len() + self.unresolved.len() >= MAX_CGROUPS {
                self.by_id.clear();
                self.unresolved.clear();
                self.cache_resets += 1;
            }
            match found {
                Some(cgroup) => {
                    self.by_id.insert(id, Arc::clone(&cgroup));
                    Some(cgroup)
                }
                None => {
                    self.unresolved.insert(id);
                    None
                }
            }
        }

        /// The shared [`Cgroup`] of a path relative to the v2 root mounted at `mount`.
        fn cgroup(&mut self, mount: &Path, path: &[u8]) -> Arc<Cgroup> {
            let id = cgroup_inode(mount, path);
            if let Some(cached) = self.cgroups.get(path) {
                if cached.id == id {
                    return Arc::clone(cached);
                }
            }
            if self.cgroups.len() >= MAX_CGROUPS {
                self.cgroups.clear();
                self.cache_resets += 1;
            }
            let (container, pod_uid) = parse_path(path);
            let cgroup = Arc::new(Cgroup {
                path: OsString::from_vec(path.to_vec()),
                id,
                container,
                pod_uid,
            });
            self.cgroups.insert(path.to_vec(), Arc::clone(&cgroup));
            cgroup
        }

        /// The inodes of `pid`'s namespaces.
        pub fn read_namespaces(&self, pid: u32) -> Namespaces {
            let mut namespaces = Namespaces::default();
            let dir = self.pid_path(pid, "ns");
            for kind in NAMESPACE_KINDS {
                let inode = std::fs::read_link(dir.join(kind))
                    .ok()
                    .and_then(|target| namespace_inode(target.as_os_str().as_encoded_bytes()));
                if let Some(slot) = namespaces.slot(kind) {
                    *slot = inode;
                }
            }
            namespaces
        }
    }

    /// The path (relative to the v2 root at `mount`) of the cgroup whose directory has inode
    /// `id`, by a breadth-first walk of at most [`MAX_WALK`] directories. Directory entries
    /// carry their inode, so the walk reads directories and stats nothing.
    pub(super) fn find_cgroup(mount: &Path, id: u64) -> Option<Vec<u8>> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::{DirEntryExt, MetadataExt};
        if std::fs::metadata(mount).ok()?.ino() == id {
            return Some(b"/".to_vec());
        }
        let mut queue = std::collections::VecDeque::from([Vec::new()]);
        let mut visited = 0;
        while let Some(relative) = queue.pop_front() {
            visited += 1;
            if visited > MAX_WALK {
                return None;
            }
            let dir = relative.strip_prefix(b"/").unwrap_or(&relative);
            let Ok(entries) = std::fs::read_dir(mount.join(OsStr::from_bytes(dir))) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let mut path = relative.clone();
                path.push(b'/');
                path.extend_from_slice(entry.file_name().as_bytes());
                if entry.ino() == id {
                    return Some(path);
                }
                queue.push_back(path);
            }
        }
        None
    }

    /// The inode of a cgroup's directory: the kernel's cgroup id on 64-bit kernels.
    pub(super) fn cgroup_inode(mount: &Path, path: &[u8]) -> Option<u64> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        let relative = path.strip_prefix(b"/").unwrap_or(path);
        std::fs::metadata(mount.join(OsStr::from_bytes(relative)))
            .ok()
            .map(|m| m.ino())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8";

    fn parsed(path: &str) -> (Option<&'static str>, Option<String>, Option<String>) {
        let (container, pod) = parse_path(path.as_bytes());
        (
            container.as_ref().and_then(|c| c.runtime),
            container.and_then(|c| c.id),
            pod,
        )
    }

    #[test]
    fn runtimes_with_the_systemd_driver() {
        let id = Some(ID.to_string());
        for (path, runtime) in [
            (format!("/system.slice/docker-{ID}.scope"), "docker"),
            (format!("/system.slice/crio-{ID}.scope"), "cri-o"),
            (format!("/machine.slice/libpod-{ID}.scope"), "podman"),
            (
                format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container"),
                "podman",
            ),
            (format!("/system.slice/docker-{ID}.scope/init.scope"), "docker"),
        ] {
            assert_eq!(parsed(&path), (Some(runtime), id.clone(), None), "{path}");
        }
        let underscored = UID.replace('-', "_");
        let kube = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{underscored}.slice/cri-containerd-{ID}.scope"
        );
        assert_eq!(
            parsed(&kube),
            (Some("containerd"), id.clone(), Some(UID.into()))
        );
        let guaranteed = format!("/kubepods.slice/kubepods-pod{underscored}.slice/crio-{ID}.scope");
        assert_eq!(parsed(&guaranteed), (Some("cri-o"), id, Some(UID.into())));
        // conmon's scope is not the container.
        assert_eq!(
            parsed(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            (None, None, None)
        );
    }

    #[test]
    fn runtimes_with_the_cgroupfs_driver() {
        let id = Some(ID.to_string());
        assert_eq!(
            parsed(&format!("/docker/{ID}")),
            (Some("docker"), id.clone(), None)
        );
        assert_eq!(
            parsed(&format!("/k8s.io/{ID}")),
            (Some("containerd"), id.clone(), None)
        );
        assert_eq!(
            parsed(&format!("/kubepods/besteffort/pod{UID}/{ID}")),
            (None, id.clone(), Some(UID.into()))
        );
        assert_eq!(
            parsed(&format!("/kubepods/pod{UID}/crio-{ID}")),
            (Some("cri-o"), id.clone(), Some(UID.into()))
        );
        assert_eq!(
            parsed(&format!("/libpod_parent/libpod-{ID}")),
            (Some("podman"), id, None)
        );
        // The pod's own cgroup: a pod, no container.
        assert_eq!(
            parsed(&format!("/kubepods/burstable/pod{UID}")),
            (None, None, Some(UID.into()))
        );
    }

    #[test]
    fn nspawn_and_nothing() {
        assert_eq!(
            parsed("/machine.slice/systemd-nspawn@web.service/payload"),
            (Some("systemd-nspawn"), None, None)
        );
        assert_eq!(
            parsed("/machine.slice/machine-web.scope"),
            (Some("systemd-nspawn"), None, None)
        );
        for path in [
            "/",
            "/user.slice/user-1000.slice/session-3.scope",
            "/system.slice/docker.service",
            "/docker/short",
            &format!("/docker/{}", ID.to_uppercase()),
            "/kubepods/burstable/podnot-a-uid",
        ] {
            assert_eq!(parsed(path), (None, None, None), "{path}");
        }
    }

    #[test]
    fn v2_line_and_namespace_links() {
        let hybrid = b"9:name=systemd:/\n4:memory:/x\n0::/docker/abc\n";
        assert_eq!(v2_path(hybrid), Some(&b"/docker/abc"[..]));
        assert_eq!(v2_path(b"4:memory:/x\n1:name=systemd:/\n"), None);
        assert_eq!(namespace_inode(b"net:[4026531840]"), Some(4026531840));
        assert_eq!(namespace_inode(b"net:"), None);
    }

    #[test]
    fn ids_in_the_own_pid_namespace() {
        let status = b"Name:\tsh\nPPid:\t41\nNSpid:\t42\t1\nThreads:\t1\n";
        assert_eq!(status_ids(status), (Some(41), vec![42, 1]));
        // The namespace's init: its parent is outside.
        assert_eq!(vppid(2, &[41]), 0);
        // A child of that init, in the same namespace.
        assert_eq!(vppid(2, &[42, 1]), 1);
        // No namespaces: the parent's host pid.
        assert_eq!(vppid(1, &[41]), 41);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn hierarchies_from_the_mounts() {
        let hybrid = b"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            Hierarchy::from_mountinfo(hybrid),
            Hierarchy::V2 {
                mount: "/sys/fs/cgroup/unified".into(),
                hybrid: true
            }
        );
        let pure = b"30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n\
90 30 0:27 /sub /mnt/a\\040b rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            Hierarchy::from_mountinfo(pure),
            Hierarchy::V2 {
                mount: "/sys/fs/cgroup".into(),
                hybrid: false
            }
        );
        let escaped = b"90 30 0:27 / /mnt/a\\040b rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            Hierarchy::from_mountinfo(escaped).v2_mount(),
            Some(Path::new("/mnt/a b"))
        );
        let v1 = b"32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        assert_eq!(Hierarchy::from_mountinfo(v1), Hierarchy::V1Only);
        assert!(Hierarchy::V1Only.notice().is_some());
        assert_eq!(Hierarchy::from_mountinfo(b""), Hierarchy::None);
    }

    /// This process's placement read from the real `/proc` matches what the files say.
    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let mut reader = PlacementReader::new();
        let me = std::process::id();
        let placement = reader.read(me).expect("this process exists");
        let net = std::fs::read_link("/proc/self/ns/net").unwrap();
        assert_eq!(
            placement.namespaces.net,
            namespace_inode(net.as_os_str().as_encoded_bytes())
        );
        assert_eq!(placement.vpid, Some(me));
        if let Some(mount) = reader.hierarchy().v2_mount() {
            let file = std::fs::read("/proc/self/cgroup").unwrap();
            let path = v2_path(&file).unwrap().to_vec();
            let cgroup = placement.cgroup.expect("a v2 host");
            assert_eq!(cgroup.path.as_encoded_bytes(), &path[..]);
            assert_eq!(cgroup.id, reader::cgroup_inode(mount, &path));
            assert!(cgroup.id.is_some());
            // The second read shares the first one's parse.
            let again = reader.read_cgroup(me).unwrap();
            assert!(Arc::ptr_eq(&again, &reader.read_cgroup(me).unwrap()));
        }
        assert_eq!(reader.read(u32::MAX), None);
    }

    /// Cgroups are found by the id the kernel reads: through the process when it is still
    /// there, by walking the hierarchy when not, and an id that names nothing is `None`.
    #[test]
    #[cfg(target_os = "linux")]
    fn resolves_cgroups_by_id() {
        let mut reader = PlacementReader::new();
        let Some(mount) = reader.hierarchy().v2_mount().map(Path::to_path_buf) else {
            eprintln!("skipped: no cgroup v2 hierarchy here");
            return;
        };
        let me = std::process::id();
        let mine = reader.read_cgroup(me).expect("a v2 host");
        let id = mine.id.unwrap();
        // Through a pid that is gone: found by the walk.
        let walked = reader.cgroup_by_id(id, u32::MAX).expect("found by walking");
        assert_eq!(walked.path, mine.path);
        assert_eq!(reader.walks, 1);
        assert_eq!(reader::find_cgroup(&mount, 1).as_deref(), Some(&b"/"[..]));
        // Cached by id: no walk, no read.
        assert!(Arc::ptr_eq(
            &reader.cgroup_by_id(id, u32::MAX).unwrap(),
            &walked
        ));
        assert_eq!(reader.walks, 1);
        // An id that names nothing: walked for once.
        assert_eq!(reader.cgroup_by_id(u64::MAX, u32::MAX), None);
        assert_eq!(reader.cgroup_by_id(u64::MAX, u32::MAX), None);
        assert_eq!(reader.walks, 2);
    }
}
