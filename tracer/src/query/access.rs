//! Who may see, read and signal which process: the kernel's own rules, applied by the agent on
//! behalf of each client so that its socket shows no one more than `/proc` would.
//!
//! - `hidepid` (`/proc`'s mount option, read from the mount and re-read when it changes):
//!   `invisible`/`noaccess` (2/1) hide a process unless the client may ptrace-read it or is in
//!   the mount's `gid=` group; `ptraceable` hides it unless the client may ptrace-read it.
//! - ptrace-read (`PTRACE_MODE_READ_FSCREDS`, what `/proc/PID/{exe,cwd,environ,fd,io,smaps}`
//!   need): the client's uid equals the process's real, effective and saved uid, its gid the
//!   three gids, and the process is dumpable; or the client has CAP_SYS_PTRACE (root does).
//! - kill(2): the client's real or effective uid equals the process's real or saved uid; or
//!   it has CAP_KILL (root does).
//!
//! Every decision is made on [`Creds`] read from `/proc` at decision time (a `setresuid`
//! without exec is seen), never on the uids the table kept from the last exec. A process's
//! dumpable flag is not in `/proc/PID/status`; the kernel shows it as the owner of
//! `/proc/PID` (root when not dumpable), which is what is read here.

use crate::table::Entry;

/// `hidepid` of the `/proc` mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HidePid {
    /// Every process is listed to everyone (`hidepid=0`, `off`).
    #[default]
    Off,
    /// Others' `/proc/PID` cannot be read (`hidepid=1`, `noaccess`).
    NoAccess,
    /// Others' `/proc/PID` are not even listed (`hidepid=2`, `invisible`).
    Invisible,
    /// Only processes the reader may ptrace-read are listed (`hidepid=4`, `ptraceable`).
    Ptraceable,
}

/// What of the `/proc` mount decides visibility: `hidepid` and its `gid=` exemption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcMount {
    /// The `hidepid` mode.
    pub hidepid: HidePid,
    /// Members of this group see every process (`gid=`; not for `ptraceable`).
    pub gid: Option<u32>,
}

impl ProcMount {
    /// The options of the mount on `/proc` in a `mountinfo` text (the last such mount: it is
    /// the one on top).
    pub fn parse(mountinfo: &str) -> ProcMount {
        let mut found = ProcMount::default();
        for line in mountinfo.lines() {
            let mut fields = line.split(' ');
            if fields.nth(4) != Some("/proc") {
                continue;
            }
            let Some(options) = line.split(" - ").nth(1) else {
                continue;
            };
            let mut mount = ProcMount::default();
            // "proc proc rw,hidepid=invisible,gid=5": the super block's options come last.
            for option in options.split([',', ' ']) {
                match option.split_once('=') {
                    Some(("hidepid", mode)) => {
                        mount.hidepid = match mode {
                            "1" | "noaccess" => HidePid::NoAccess,
                            "2" | "invisible" => HidePid::Invisible,
                            "4" | "ptraceable" => HidePid::Ptraceable,
                            _ => HidePid::Off,
                        }
                    }
                    Some(("gid", gid)) => mount.gid = gid.parse().ok(),
                    _ => {}
                }
            }
            found = mount;
        }
        found
    }

    /// This process's view of `/proc` (the agent's mount namespace).
    pub fn read() -> ProcMount {
        std::fs::read_to_string("/proc/self/mountinfo")
            .map(|info| ProcMount::parse(&info))
            .unwrap_or_default()
    }
}

/// A process's credentials as the access rules need them, read fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creds {
    /// Real, effective, saved uid.
    pub uids: [u32; 3],
    /// Real, effective, saved gid.
    pub gids: [u32; 3],
    /// Whether the process is dumpable (`/proc/PID` owned by its effective uid).
    pub dumpable: bool,
}

impl Creds {
    /// The credentials of the process `entry` is about, read now; `None` when it is gone (or
    /// its pid now belongs to another process) or cannot be read.
    pub fn read(entry: &Entry) -> Option<Creds> {
        read_creds(entry.id.pid, Some(entry.id.start_ticks))
    }

    /// The credentials of the process with this identity, read now.
    pub fn read_id(id: crate::event::ProcessId) -> Option<Creds> {
        read_creds(id.pid, Some(id.start_ticks))
    }

    /// The credentials of whatever process has this pid now.
    pub fn read_pid(pid: u32) -> Option<Creds> {
        read_creds(pid, None)
    }

    /// What the table last knew (an exited process: its last known ids, taken as dumpable).
    pub fn known(entry: &Entry) -> Option<Creds> {
        Some(Creds {
            uids: entry.uids?,
            gids: entry.gids?,
            dumpable: true,
        })
    }
}

#[cfg(native_linux)]
fn read_creds(pid: u32, start_ticks: Option<u64>) -> Option<Creds> {
    use std::os::unix::fs::MetadataExt;
    let host = crate::host::Host::new();
    let status = host.status(pid).ok()?;
    let owner = std::fs::metadata(format!("/proc/{pid}")).ok()?.uid();
    // Last: the identity. A pid is not reused while its process lives, so reads made before
    // this check (after the process started) were of this process.
    if let Some(ticks) = start_ticks {
        if host.stat(pid).ok()?.starttime != ticks {
            return None;
        }
    }
    let uids = [status.uids.real, status.uids.effective, status.uids.saved];
    let gids = [status.gids.real, status.gids.effective, status.gids.saved];
    Some(Creds {
        uids,
        gids,
        dumpable: owner == uids[1],
    })
}

#[cfg(not(native_linux))]
fn read_creds(pid: u32, _start_ticks: Option<u64>) -> Option<Creds> {
    let status = crate::host::Host::new().status(pid).ok()?;
    Some(Creds {
        uids: [status.uids.real, status.uids.effective, status.uids.saved],
        gids: [status.gids.real, status.gids.effective, status.gids.saved],
        dumpable: true,
    })
}

/// Who is asking: the client's credentials (from SO_PEERCRED and its `/proc/PID/status`) and
/// the `/proc` mount's rules at the time of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The client's effective uid (SO_PEERCRED), which `/proc` checks against.
    pub uid: u32,
    /// The client's effective gid (SO_PEERCRED).
    pub gid: u32,
    /// The client's real uid (kill(2) also accepts it).
    pub ruid: u32,
    /// Root or CAP_SYS_PTRACE: reads every process.
    pub ptrace_all: bool,
    /// Root or CAP_KILL: signals every process.
    pub kill_all: bool,
    /// In hidepid's `gid=` group.
    pub hidepid_exempt: bool,
    /// The `/proc` mount's hidepid.
    pub hidepid: HidePid,
}

/// CAP_KILL's bit in `CapEff`.
const CAP_KILL: u32 = 5;
/// CAP_SYS_PTRACE's bit in `CapEff`.
const CAP_SYS_PTRACE: u32 = 19;

impl Viewer {
    /// Sees, reads and signals everything.
    pub const ROOT: Viewer = Viewer {
        uid: 0,
        gid: 0,
        ruid: 0,
        ptrace_all: true,
        kill_all: true,
        hidepid_exempt: true,
        hidepid: HidePid::Off,
    };

    /// A plain user with these ids and no capabilities, under `mount`'s rules.
    pub fn user(uid: u32, gid: u32, mount: ProcMount) -> Viewer {
        if uid == 0 {
            return Viewer::ROOT;
        }
        Viewer {
            uid,
            gid,
            ruid: uid,
            ptrace_all: false,
            kill_all: false,
            hidepid_exempt: mount.gid == Some(gid),
            hidepid: mount.hidepid,
        }
    }

    /// The client at the other end of a socket: `uid`/`gid` from SO_PEERCRED, its real uid,
    /// capabilities and groups from `/proc/PID/status` of its `pid` (when that process still
    /// has these credentials; none otherwise).
    pub fn peer(uid: u32, gid: u32, pid: Option<u32>, mount: ProcMount) -> Viewer {
        let mut viewer = Viewer::user(uid, gid, mount);
        if uid == 0 {
            return viewer;
        }
        let Some(status) =
            pid.and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        else {
            return viewer;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::trim)
        };
        let ids = |name: &str| -> Vec<u32> {
            field(name)
                .map(|v| {
                    v.split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let uids = ids("Uid:");
        let gids = ids("Gid:");
        // The pid may be another process by now: take nothing from it unless it is still this
        // client (same effective ids).
        if uids.get(1) != Some(&uid) || gids.get(1) != Some(&gid) {
            return viewer;
        }
        viewer.ruid = uids[0];
        let caps = field("CapEff:")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .unwrap_or(0);
        viewer.ptrace_all = caps & (1 << CAP_SYS_PTRACE) != 0;
        viewer.kill_all = caps & (1 << CAP_KILL) != 0;
        if let Some(exempt) = mount.gid {
            viewer.hidepid_exempt = gid == exempt || ids("Groups:").contains(&exempt);
        }
        viewer
    }

    /// Whether every process is visible and readable to this viewer: no credentials need be
    /// read for it.
    pub fn sees_all(&self) -> bool {
        self.ptrace_all
    }

    /// Whether the process is listed to this viewer (hidepid), given its fresh credentials
    /// (`None`: unknown, hidden under hidepid).
    pub fn sees(&self, creds: Option<&Creds>) -> bool {
        match self.hidepid {
            HidePid::Off => true,
            _ if self.ptrace_all => true,
            HidePid::NoAccess | HidePid::Invisible => {
                self.hidepid_exempt || creds.is_some_and(|c| self.may_read(c))
            }
            HidePid::Ptraceable => creds.is_some_and(|c| self.may_read(c)),
        }
    }

    /// The kernel's ptrace-read rule: what `/proc` keeps from everyone else (exe, cwd,
    /// environ, fds, io, smaps).
    pub fn may_read(&self, creds: &Creds) -> bool {
        self.ptrace_all
            || (creds.uids.iter().all(|&u| u == self.uid)
                && creds.gids.iter().all(|&g| g == self.gid)
                && creds.dumpable)
    }

    /// kill(2)'s rule.
    pub fn may_signal(&self, creds: &Creds) -> bool {
        let [real, _, saved] = creds.uids;
        self.kill_all
            || [self.uid, self.ruid]
                .iter()
                .any(|&u| u == real || u == saved)
    }

    /// What this viewer gets of a process: whether it is listed, and whether its private
    /// fields are shown. Reads the process's credentials now unless the viewer sees all;
    /// an exited process is judged on what the table last knew of it.
    pub fn access(&self, entry: &Entry, private_fields: bool) -> Access {
        if self.sees_all() {
            return Access::FULL;
        }
        if self.hidepid == HidePid::Off && !private_fields {
            return Access {
                visible: true,
                read: false,
            };
        }
        let creds = if entry.exit.is_some() {
            Creds::known(entry)
        } else {
            Creds::read(entry)
        };
        Access {
            visible: self.sees(creds.as_ref()),
            read: creds.is_some_and(|c| self.may_read(&c)),
        }
    }
}

/// A viewer's access to one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Listed at all.
    pub visible: bool,
    /// Its private fields shown (ptrace-read).
    pub read: bool,
}

impl Access {
    /// Everything.
    pub const FULL: Access = Access {
        visible: true,
        read: true,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hidepid_in_every_spelling() {
        let line = |opts: &str| {
            format!(
                "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc {opts}\n"
            )
        };
        for (opts, mode) in [
            ("rw", HidePid::Off),
            ("rw,hidepid=1", HidePid::NoAccess),
            ("rw,hidepid=noaccess", HidePid::NoAccess),
            ("rw,hidepid=2", HidePid::Invisible),
            ("rw,hidepid=invisible", HidePid::Invisible),
            ("rw,hidepid=ptraceable", HidePid::Ptraceable),
            ("rw,hidepid=4", HidePid::Ptraceable),
        ] {
            assert_eq!(ProcMount::parse(&line(opts)).hidepid, mode, "{opts}");
        }
        let both = format!("{}{}", line("rw"), line("rw,hidepid=invisible,gid=44"));
        assert_eq!(
            ProcMount::parse(&both),
            ProcMount {
                hidepid: HidePid::Invisible,
                gid: Some(44)
            }
        );
        // Another mount point's options are not /proc's.
        let other = "30 22 0:30 / /proc/sys/fs/binfmt_misc rw - binfmt_misc x rw,hidepid=2\n";
        assert_eq!(ProcMount::parse(other).hidepid, HidePid::Off);
    }

    #[test]
    fn the_kernel_rules() {
        let user = Viewer::user(1000, 100, ProcMount::default());
        let own = Creds {
            uids: [1000; 3],
            gids: [100; 3],
            dumpable: true,
        };
        assert!(user.may_read(&own) && user.may_signal(&own));
        // setuid program run by the user: effective root, not readable, signalable.
        let setuid = Creds {
            uids: [1000, 0, 0],
            ..own
        };
        assert!(!user.may_read(&setuid) && user.may_signal(&setuid));
        // Not dumpable, or another group: not readable.
        assert!(!user.may_read(&Creds {
            dumpable: false,
            ..own
        }));
        assert!(!user.may_read(&Creds {
            gids: [100, 100, 0],
            ..own
        }));
        // Root's: neither.
        let root = Creds {
            uids: [0; 3],
            gids: [0; 3],
            dumpable: true,
        };
        assert!(!user.may_read(&root) && !user.may_signal(&root));
        assert!(user.sees(Some(&root)));
        let hidden = Viewer::user(
            1000,
            100,
            ProcMount {
                hidepid: HidePid::Invisible,
                gid: None,
            },
        );
        assert!(!hidden.sees(Some(&root)) && !hidden.sees(None) && hidden.sees(Some(&own)));
        let exempt = Viewer::user(
            1000,
            100,
            ProcMount {
                hidepid: HidePid::Invisible,
                gid: Some(100),
            },
        );
        assert!(exempt.sees(Some(&root)));
        let ptraceable = Viewer::user(
            1000,
            100,
            ProcMount {
                hidepid: HidePid::Ptraceable,
                gid: Some(100),
            },
        );
        assert!(!ptraceable.sees(Some(&root)) && !ptraceable.sees(Some(&setuid)));
        assert!(Viewer::ROOT.may_read(&root) && Viewer::ROOT.sees(None));
    }
}
