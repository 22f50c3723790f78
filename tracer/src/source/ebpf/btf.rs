//! A small reader of the kernel's BTF (`/sys/kernel/btf/vmlinux`): enough to find the byte
//! offset of a struct member and the parameters of a tracepoint, so the kernel programs get
//! their offsets from the running kernel instead of compiled-in guesses.
//!
//! Format: <https://docs.kernel.org/bpf/btf.html>. Only what the lookups need is decoded; every
//! other kind is skipped by its size.

use std::collections::HashMap;
use std::path::Path;

use tracer_common::{
    KernelOffsets, USAGE_CORE, USAGE_FOLD_SEQ, USAGE_IO_BYTES, USAGE_IO_CHARS, USAGE_PREV_CPUTIME,
    USAGE_THREADS,
};

/// What went wrong reading BTF or resolving an offset.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The BTF file could not be read.
    #[error("cannot read kernel BTF {path}: {source} (tracer needs a kernel built with CONFIG_DEBUG_INFO_BTF)")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The data is not BTF or is cut short.
    #[error("kernel BTF is malformed: {0}")]
    Malformed(&'static str),
    /// A struct or member the programs need is not in this kernel.
    #[error("kernel BTF has no {0}")]
    Missing(String),
}

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// One decoded type: its kind, name, `size_or_type` word, and (for structs, unions and
/// function prototypes) its members as (name, type id, bit offset).
#[derive(Debug, Clone)]
struct Type {
    kind: u32,
    name: String,
    size_or_type: u32,
    members: Vec<(String, u32, u32)>,
}

/// Parsed kernel BTF.
#[derive(Debug)]
pub struct Btf {
    /// Index = type id; id 0 is `void`.
    types: Vec<Type>,
    /// Struct name → type id (the first complete definition).
    structs: HashMap<String, u32>,
    /// Typedef name → type id.
    typedefs: HashMap<String, u32>,
}

/// Most members [`Btf::locate`] looks at for one name: far more than any kernel's structs
/// hold (`task_struct` has a few hundred), far less than a malformed nesting would cost.
const MEMBER_BUDGET: u32 = 1 << 16;

/// A member's offset that no struct can have.
const OFFSET_OVERFLOW: BtfError = BtfError::Malformed("a member's offset overflows");

fn u32_at(data: &[u8], at: usize) -> Result<u32, BtfError> {
    data.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(BtfError::Malformed("truncated"))
}

impl Btf {
    /// Reads the running kernel's BTF.
    pub fn from_sys_fs() -> Result<Self, BtfError> {
        Self::from_file(Path::new("/sys/kernel/btf/vmlinux"))
    }

    /// Reads BTF from a file.
    pub fn from_file(path: &Path) -> Result<Self, BtfError> {
        let data = std::fs::read(path).map_err(|source| BtfError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&data)
    }

    /// Parses raw little-endian BTF.
    pub fn parse(data: &[u8]) -> Result<Self, BtfError> {
        if data.len() < 24 || data[0..2] != [0x9f, 0xeb] {
            return Err(BtfError::Malformed("bad magic (not little-endian BTF)"));
        }
        let hdr_len = u32_at(data, 4)? as usize;
        let type_off = u32_at(data, 8)? as usize;
        let type_len = u32_at(data, 12)? as usize;
        let str_off = u32_at(data, 16)? as usize;
        let str_len = u32_at(data, 20)? as usize;
        let types_start = hdr_len + type_off;
        let strings_start = hdr_len + str_off;
        let type_data = data
            .get(types_start..types_start + type_len)
            .ok_or(BtfError::Malformed("type section out of bounds"))?;
        let strings = data
            .get(strings_start..strings_start + str_len)
            .ok_or(BtfError::Malformed("string section out of bounds"))?;
        let name = |offset: u32| -> String {
            let start = offset as usize;
            let rest = strings.get(start..).unwrap_or_default();
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).into_owned()
        };

        let mut types = vec![Type {
            kind: 0,
            name: String::new(),
            size_or_type: 0,
            members: Vec::new(),
        }];
        let mut at = 0;
        while at < type_data.len() {
            let name_off = u32_at(type_data, at)?;
            let info = u32_at(type_data, at + 4)?;
            let size_or_type = u32_at(type_data, at + 8)?;
            at += 12;
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let kind_flag = info >> 31 == 1;
            let mut members = Vec::new();
            match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => at += 4,
                KIND_ARRAY => at += 12,
                KIND_STRUCT | KIND_UNION => {
                    for _ in 0..vlen {
                        let member_name = u32_at(type_data, at)?;
                        let member_type = u32_at(type_data, at + 4)?;
                        let offset = u32_at(type_data, at + 8)?;
                        // With kind_flag the low 24 bits are the bit offset, the high 8 the
                        // bitfield size.
                        let bit_offset = if kind_flag {
                            offset & 0xff_ffff
                        } else {
                            offset
                        };
                        members.push((name(member_name), member_type, bit_offset));
                        at += 12;
                    }
                }
                KIND_ENUM => at += 8 * vlen,
                KIND_FUNC_PROTO => {
                    for _ in 0..vlen {
                        let param_name = u32_at(type_data, at)?;
                        let param_type = u32_at(type_data, at + 4)?;
                        members.push((name(param_name), param_type, 0));
                        at += 8;
                    }
                }
                KIND_DATASEC | KIND_ENUM64 => at += 12 * vlen,
                0 | KIND_PTR | 7 | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
                | 12 | 16 | KIND_TYPE_TAG => {}
                _ => return Err(BtfError::Malformed("unknown type kind")),
            }
            types.push(Type {
                kind,
                name: name(name_off),
                size_or_type,
                members,
            });
        }

        let mut structs = HashMap::new();
        let mut typedefs = HashMap::new();
        for (id, ty) in types.iter().enumerate() {
            if ty.name.is_empty() {
                continue;
            }
            match ty.kind {
                KIND_STRUCT => {
                    structs.entry(ty.name.clone()).or_insert(id as u32);
                }
                KIND_TYPEDEF => {
                    typedefs.entry(ty.name.clone()).or_insert(id as u32);
                }
                _ => {}
            }
        }
        Ok(Self {
            types,
            structs,
            typedefs,
        })
    }

    fn ty(&self, id: u32) -> Result<&Type, BtfError> {
        self.types
            .get(id as usize)
            .ok_or(BtfError::Malformed("type id out of range"))
    }

    /// Byte offset of `member` in `struct name`, looking through anonymous structs and unions
    /// (newer kernels wrap `mm_struct`'s fields in one).
    pub fn member_offset(&self, name: &str, member: &str) -> Result<u32, BtfError> {
        Ok(self.locate(name, member)?.0)
    }

    /// Byte offset and size of a member of `struct name`; `path` may name a member of a
    /// member (`ioac.read_bytes`), whose offsets are summed.
    pub fn member(&self, name: &str, path: &str) -> Result<(u32, u32), BtfError> {
        let (offset, id) = self.locate(name, path)?;
        let size = self
            .size_of(id)
            .ok_or_else(|| BtfError::Missing(format!("the size of {name}::{path}")))?;
        Ok((offset, size))
    }

    /// Byte offset and resolved type of a member (or a member's member) of `struct name`.
    fn locate(&self, name: &str, path: &str) -> Result<(u32, u32), BtfError> {
        let mut id = *self
            .structs
            .get(name)
            .ok_or_else(|| BtfError::Missing(format!("struct {name}")))?;
        let mut bits = 0;
        for member in path.split('.') {
            let mut budget = MEMBER_BUDGET;
            let (offset, member_type) = self
                .find_member(id, member, 0, &mut budget)?
                .ok_or_else(|| BtfError::Missing(format!("{name}::{path}")))?;
            bits = u32::checked_add(bits, offset).ok_or(OFFSET_OVERFLOW)?;
            id = self.resolve(member_type)?;
        }
        if bits % 8 != 0 {
            return Err(BtfError::Missing(format!(
                "{name}::{path} at a byte offset"
            )));
        }
        Ok((bits / 8, id))
    }

    /// Byte offset of a member that must be a 64-bit integer (a `u64` or, on a 64-bit kernel,
    /// an `unsigned long`): the programs load it as one.
    pub fn u64_member(&self, name: &str, path: &str) -> Result<u32, BtfError> {
        match self.member(name, path)? {
            (offset, 8) => Ok(offset),
            (_, size) => Err(BtfError::Missing(format!(
                "{name}::{path} as a 64-bit integer (it has {size} bytes)"
            ))),
        }
    }

    /// Size in bytes of a resolved type, where BTF says it.
    fn size_of(&self, id: u32) -> Option<u32> {
        let ty = self.ty(id).ok()?;
        match ty.kind {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 => Some(ty.size_or_type),
            KIND_PTR => Some(8),
            _ => None,
        }
    }

    /// Bit offset and type of `member`, searching anonymous members too: at most 8 levels
    /// deep and `budget` members in all (anonymous members that name their own struct, or a
    /// few structs each holding many anonymous ones, would otherwise cost members^8).
    fn find_member(
        &self,
        id: u32,
        member: &str,
        depth: u32,
        budget: &mut u32,
    ) -> Result<Option<(u32, u32)>, BtfError> {
        if depth > 8 {
            return Ok(None);
        }
        for (name, member_type, bit_offset) in &self.ty(id)?.members {
            *budget = budget
                .checked_sub(1)
                .ok_or(BtfError::Malformed("anonymous members nest without end"))?;
            if name == member {
                return Ok(Some((*bit_offset, *member_type)));
            }
            if name.is_empty() {
                let inner = self.resolve(*member_type)?;
                if matches!(self.ty(inner)?.kind, KIND_STRUCT | KIND_UNION) {
                    if let Some((found, found_type)) =
                        self.find_member(inner, member, depth + 1, budget)?
                    {
                        let bits = bit_offset.checked_add(found).ok_or(OFFSET_OVERFLOW)?;
                        return Ok(Some((bits, found_type)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Follows typedefs and qualifiers to the underlying type.
    fn resolve(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..16 {
            let ty = self.ty(id)?;
            match ty.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = ty.size_or_type
                }
                _ => return Ok(id),
            }
        }
        Err(BtfError::Malformed("type chain too long"))
    }

    /// Number of arguments a raw tracepoint passes, from its `btf_trace_NAME` typedef
    /// (a pointer to a function prototype whose first parameter is the `void *` context).
    pub fn tracepoint_args(&self, tracepoint: &str) -> Result<usize, BtfError> {
        let typedef = format!("btf_trace_{tracepoint}");
        let id = *self
            .typedefs
            .get(&typedef)
            .ok_or_else(|| BtfError::Missing(format!("tracepoint {tracepoint}")))?;
        let ptr = self.resolve(id)?;
        let ptr_ty = self.ty(ptr)?;
        if ptr_ty.kind != KIND_PTR {
            return Err(BtfError::Missing(format!("prototype of {typedef}")));
        }
        let proto = self.ty(self.resolve(ptr_ty.size_or_type)?)?;
        if proto.kind != KIND_FUNC_PROTO || proto.members.is_empty() {
            return Err(BtfError::Missing(format!("prototype of {typedef}")));
        }
        Ok(proto.members.len() - 1)
    }

    /// Every offset the kernel programs read, for this kernel.
    pub fn kernel_offsets(&self) -> Result<KernelOffsets, BtfError> {
        let task = |member| self.member_offset("task_struct", member);
        let mm = |member| self.member_offset("mm_struct", member);
        let cred = |member| self.member_offset("cred", member);
        let mut offsets = KernelOffsets {
            task_pid: task("pid")?,
            task_tgid: task("tgid")?,
            task_real_parent: task("real_parent")?,
            task_group_leader: task("group_leader")?,
            task_comm: task("comm")?,
            task_start_boottime: task("start_boottime")?,
            task_exit_code: task("exit_code")?,
            task_real_cred: task("real_cred")?,
            task_mm: task("mm")?,
            task_signal: task("signal")?,
            mm_arg_start: mm("arg_start")?,
            mm_arg_end: mm("arg_end")?,
            cred_uid: cred("uid")?,
            cred_gid: cred("gid")?,
            cred_suid: cred("suid")?,
            cred_sgid: cred("sgid")?,
            cred_euid: cred("euid")?,
            cred_egid: cred("egid")?,
            bprm_interp: self.member_offset("linux_binprm", "interp")?,
            bprm_file: self.member_offset("linux_binprm", "file")?,
            file_dentry: self.member_offset("file", "f_path")?
                + self.member_offset("path", "dentry")?,
            file_vfsmount: self.member_offset("file", "f_path")?
                + self.member_offset("path", "mnt")?,
            dentry_parent: self.member_offset("dentry", "d_parent")?,
            dentry_name: self.member_offset("dentry", "d_name")?
                + self.member_offset("qstr", "name")?,
            mount_vfsmount: self.member_offset("mount", "mnt")?,
            mount_parent: self.member_offset("mount", "mnt_parent")?,
            mount_mountpoint: self.member_offset("mount", "mnt_mountpoint")?,
            vfsmount_root: self.member_offset("vfsmount", "mnt_root")?,
            signal_live: self.member_offset("signal_struct", "live")?,
            exit_has_group_dead: u32::from(self.tracepoint_args("sched_process_exit")? >= 2),
            wakeup_bytes: 0,
            ..KernelOffsets::default()
        };
        offsets.task_flags = task("flags")?;
        match self.placement_offsets(&mut offsets) {
            Ok(()) => offsets.placement = 1,
            Err(error) => {
                tracing::warn!(
                    "cgroups and namespaces will be read from /proc, not in the kernel: {error}"
                );
                offsets.placement = 0;
            }
        }
        match self.usage_offsets(&mut offsets) {
            Ok(fields) => offsets.usage_fields = fields,
            Err(error) => {
                tracing::warn!("exit events will carry no resource usage: {error}");
                offsets.usage_fields = 0;
            }
        }
        Ok(offsets)
    }

    /// The offsets of what the exit program sums into a process's final usage; returns the
    /// `USAGE_*` bits of what this kernel keeps. CPU times, faults, context switches and peak
    /// RSS are needed for any usage; I/O counters (CONFIG_TASK_XACCT,
    /// CONFIG_TASK_IO_ACCOUNTING), the CPU-time floor and the thread walk are optional: an
    /// optional field that is missing points at a valid one and its bit stays clear.
    fn usage_offsets(&self, o: &mut KernelOffsets) -> Result<u32, BtfError> {
        let task = |path| self.u64_member("task_struct", path);
        let signal = |path| self.u64_member("signal_struct", path);
        o.task_utime = task("utime")?;
        o.task_stime = task("stime")?;
        o.task_sum_exec_runtime = task("se.sum_exec_runtime")?;
        o.task_nvcsw = task("nvcsw")?;
        o.task_nivcsw = task("nivcsw")?;
        o.task_min_flt = task("min_flt")?;
        o.task_maj_flt = task("maj_flt")?;
        o.signal_utime = signal("utime")?;
        o.signal_stime = signal("stime")?;
        o.signal_cutime = signal("cutime")?;
        o.signal_cstime = signal("cstime")?;
        o.signal_sum_sched_runtime = signal("sum_sched_runtime")?;
        o.signal_nvcsw = signal("nvcsw")?;
        o.signal_nivcsw = signal("nivcsw")?;
        o.signal_min_flt = signal("min_flt")?;
        o.signal_maj_flt = signal("maj_flt")?;
        o.signal_maxrss = signal("maxrss")?;
        let mut fields = USAGE_CORE;

        fields |= self.io_offsets(o);

        match (signal("prev_cputime.utime"), signal("prev_cputime.stime")) {
            (Ok(utime), Ok(stime)) => {
                o.signal_prev_utime = utime;
                o.signal_prev_stime = stime;
                fields |= USAGE_PREV_CPUTIME;
            }
            _ => {
                o.signal_prev_utime = o.signal_utime;
                o.signal_prev_stime = o.signal_stime;
            }
        }

        let walk = (|| -> Result<(u32, u32, u32, u32), BtfError> {
            let (nr_threads, size) = self.member("signal_struct", "nr_threads")?;
            if size != 4 {
                return Err(BtfError::Missing(
                    "signal_struct::nr_threads as an int".into(),
                ));
            }
            let next = self.u64_member("list_head", "next")?;
            Ok((
                nr_threads,
                self.member_offset("signal_struct", "thread_head")?,
                self.member_offset("task_struct", "thread_node")?,
                next,
            ))
        })();
        if let Ok((nr_threads, head, node, next)) = walk {
            o.signal_nr_threads = nr_threads;
            o.signal_thread_head = head;
            o.task_thread_node = node;
            o.list_next = next;
            fields |= USAGE_THREADS;
        }
        if let Ok((offset, 4)) =
            self.member("signal_struct", "stats_lock.seqcount.seqcount.sequence")
        {
            o.signal_stats_seq = offset;
            fields |= USAGE_FOLD_SEQ;
        }
        Ok(fields)
    }

    /// The offsets of what the fork and exec programs read of where a process runs: its
    /// cgroup v2 id, its namespaces' inode numbers, and its pid struct's levels.
    fn placement_offsets(&self, o: &mut KernelOffsets) -> Result<(), BtfError> {
        let int = |name: &str, path: &str| match self.member(name, path)? {
            (offset, 4) => Ok(offset),
            (_, size) => Err(BtfError::Missing(format!(
                "{name}::{path} as a 32-bit integer (it has {size} bytes)"
            ))),
        };
        let ptr = |name: &str, path: &str| self.u64_member(name, path);
        o.task_cgroups = ptr("task_struct", "cgroups")?;
        o.css_set_dfl_cgrp = ptr("css_set", "dfl_cgrp")?;
        o.cgroup_kn = ptr("cgroup", "kn")?;
        o.kernfs_node_id = self.u64_member("kernfs_node", "id")?;
        o.task_nsproxy = ptr("task_struct", "nsproxy")?;
        o.nsproxy_mnt = ptr("nsproxy", "mnt_ns")?;
        o.nsproxy_net = ptr("nsproxy", "net_ns")?;
        o.nsproxy_uts = ptr("nsproxy", "uts_ns")?;
        o.nsproxy_ipc = ptr("nsproxy", "ipc_ns")?;
        o.nsproxy_cgroup = ptr("nsproxy", "cgroup_ns")?;
        o.cred_user_ns = ptr("cred", "user_ns")?;
        o.pid_ns_inum = int("pid_namespace", "ns.inum")?;
        o.mnt_ns_inum = int("mnt_namespace", "ns.inum")?;
        o.net_ns_inum = int("net", "ns.inum")?;
        o.user_ns_inum = int("user_namespace", "ns.inum")?;
        o.uts_ns_inum = int("uts_namespace", "ns.inum")?;
        o.ipc_ns_inum = int("ipc_namespace", "ns.inum")?;
        o.cgroup_ns_inum = int("cgroup_namespace", "ns.inum")?;
        o.task_thread_pid = ptr("task_struct", "thread_pid")?;
        o.pid_level = int("pid", "level")?;
        o.pid_numbers = self.member_offset("pid", "numbers")?;
        o.upid_size = self.struct_size("upid")?;
        o.upid_nr = int("upid", "nr")?;
        o.upid_ns = ptr("upid", "ns")?;
        o.cgroup_level = int("cgroup", "level")?;
        o.cgroup_ancestors = self.member_offset("cgroup", "ancestors")?;
        Ok(())
    }

    /// Size in bytes of `struct name`.
    pub fn struct_size(&self, name: &str) -> Result<u32, BtfError> {
        let id = *self
            .structs
            .get(name)
            .ok_or_else(|| BtfError::Missing(format!("struct {name}")))?;
        self.size_of(id)
            .ok_or_else(|| BtfError::Missing(format!("the size of struct {name}")))
    }

    /// The offsets the scheduler accounting program reads (`--sched`): the run queue's
    /// clocks, reached from a task through its CFS run queue (CONFIG_FAIR_GROUP_SCHED), and
    /// the time the kernel queued a task (`sched_info`, CONFIG_SCHED_INFO).
    pub fn sched_offsets(&self, o: &mut KernelOffsets) -> Result<(), BtfError> {
        let need = |what: &str, result: Result<u32, BtfError>| {
            result.map_err(|e| {
                BtfError::Missing(format!(
                    "{what} for scheduler accounting ({e}; it needs CONFIG_SCHED_INFO and CONFIG_FAIR_GROUP_SCHED)"
                ))
            })
        };
        o.task_se_cfs_rq = need("se.cfs_rq", self.u64_member("task_struct", "se.cfs_rq"))?;
        o.cfs_rq_rq = need("cfs_rq::rq", self.u64_member("cfs_rq", "rq"))?;
        o.rq_clock = need("rq::clock", self.u64_member("rq", "clock"))?;
        o.rq_clock_task = need("rq::clock_task", self.u64_member("rq", "clock_task"))?;
        o.task_last_queued = need(
            "sched_info.last_queued",
            self.u64_member("task_struct", "sched_info.last_queued"),
        )?;
        Ok(())
    }

    /// The I/O counters of `task_struct::ioac` and `signal_struct::ioac`, in two groups that
    /// kernels keep or not as a whole; a group this kernel lacks reads `utime` instead (its
    /// bit stays clear and userspace ignores the values).
    fn io_offsets(&self, o: &mut KernelOffsets) -> u32 {
        let both = |name: &str| -> Result<(u32, u32), BtfError> {
            let path = format!("ioac.{name}");
            Ok((
                self.u64_member("task_struct", &path)?,
                self.u64_member("signal_struct", &path)?,
            ))
        };
        let fallback = (o.task_utime, o.signal_utime);
        let mut fields = 0;
        let chars = ["rchar", "wchar", "syscr", "syscw"]
            .map(both)
            .into_iter()
            .collect::<Result<Vec<_>, _>>();
        let chars = match chars {
            Ok(found) => {
                fields |= USAGE_IO_CHARS;
                found
            }
            Err(_) => vec![fallback; 4],
        };
        (o.task_rchar, o.signal_rchar) = chars[0];
        (o.task_wchar, o.signal_wchar) = chars[1];
        (o.task_syscr, o.signal_syscr) = chars[2];
        (o.task_syscw, o.signal_syscw) = chars[3];
        let bytes = ["read_bytes", "write_bytes"]
            .map(both)
            .into_iter()
            .collect::<Result<Vec<_>, _>>();
        let bytes = match bytes {
            Ok(found) => {
                fields |= USAGE_IO_BYTES;
                found
            }
            Err(_) => vec![fallback; 2],
        };
        (o.task_read_bytes, o.signal_read_bytes) = bytes[0];
        (o.task_write_bytes, o.signal_write_bytes) = bytes[1];
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a BTF blob from (name, info, size_or_type, extra words) entries.
    fn blob(strings: &[u8], types: &[(u32, u32, u32, Vec<u32>)]) -> Vec<u8> {
        let mut type_data = Vec::new();
        for (name, info, size, extra) in types {
            for word in [*name, *info, *size].iter().chain(extra) {
                type_data.extend_from_slice(&word.to_le_bytes());
            }
        }
        let mut out = vec![0x9f, 0xeb, 1, 0];
        for word in [
            24u32,
            0,
            type_data.len() as u32,
            type_data.len() as u32,
            strings.len() as u32,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&type_data);
        out.extend_from_slice(strings);
        out
    }

    #[test]
    fn finds_members_through_anonymous_structs() {
        // strings: 0 "", 1 "int", 5 "outer", 11 "a", 13 "b"
        let strings = b"\0int\0outer\0a\0b\0";
        let types = [
            // 1: int, 4 bytes
            (1, KIND_INT << 24, 4, vec![32]),
            // 2: anonymous struct { int b at byte 4 }
            (0, (KIND_STRUCT << 24) | 1, 8, vec![13, 1, 32]),
            // 3: struct outer { int a at 0; anonymous at byte 16 }
            (5, (KIND_STRUCT << 24) | 2, 24, vec![11, 1, 0, 0, 2, 128]),
        ];
        let btf = Btf::parse(&blob(strings, &types)).unwrap();
        assert_eq!(btf.member_offset("outer", "a").unwrap(), 0);
        assert_eq!(btf.member_offset("outer", "b").unwrap(), 20);
        assert!(matches!(
            btf.member_offset("outer", "c"),
            Err(BtfError::Missing(_))
        ));
        assert!(matches!(
            btf.member_offset("nope", "a"),
            Err(BtfError::Missing(_))
        ));
    }

    #[test]
    fn self_nesting_anonymous_members_end_quickly() {
        // strings: 0 "", 1 "outer"; struct 1 "outer" holds 200 anonymous members of its own
        // type: searching every level would visit 200^8 members.
        let strings = b"\0outer\0";
        let mut members = Vec::new();
        for _ in 0..200 {
            members.extend([0, 1, 0]);
        }
        let types = [(1, (KIND_STRUCT << 24) | 200, 8, members)];
        let btf = Btf::parse(&blob(strings, &types)).unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(
            btf.member_offset("outer", "x"),
            Err(BtfError::Malformed(_))
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn member_offsets_that_overflow_are_malformed() {
        // struct 2 "outer" { anonymous struct 3 at bit u32::MAX - 7 }, struct 3 { int a at 64 }
        let strings = b"\0int\0outer\0a\0";
        let types = [
            (1, KIND_INT << 24, 4, vec![32]),
            (5, (KIND_STRUCT << 24) | 1, 8, vec![0, 3, u32::MAX - 7]),
            (0, (KIND_STRUCT << 24) | 1, 16, vec![11, 1, 64]),
        ];
        let btf = Btf::parse(&blob(strings, &types)).unwrap();
        assert!(matches!(
            btf.member_offset("outer", "a"),
            Err(BtfError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            Btf::parse(b"not btf at all, not at all"),
            Err(BtfError::Malformed(_))
        ));
    }

    #[test]
    fn resolves_this_kernels_offsets() {
        let Ok(btf) = Btf::from_sys_fs() else {
            eprintln!("skipped: no /sys/kernel/btf/vmlinux on this machine");
            return;
        };
        let offsets = btf
            .kernel_offsets()
            .expect("every needed field is in the kernel's BTF");
        assert!(offsets.task_tgid > offsets.task_pid || offsets.task_pid > offsets.task_tgid);
        assert_eq!(offsets.cred_gid, offsets.cred_uid + 4);
        // This machine kind reads cgroups and namespaces in the kernel.
        assert_eq!(offsets.placement, 1, "{offsets:?}");
        assert_eq!(offsets.upid_size, 16);
        assert_eq!(offsets.upid_ns, 8);
        assert_eq!(btf.tracepoint_args("sched_process_fork").unwrap(), 2);
        assert_eq!(btf.tracepoint_args("sched_process_exec").unwrap(), 3);
        // This machine kind (6.18, x86_64) keeps every usage field the exit program reads.
        let all = USAGE_CORE
            | USAGE_IO_CHARS
            | USAGE_IO_BYTES
            | USAGE_PREV_CPUTIME
            | USAGE_THREADS
            | USAGE_FOLD_SEQ;
        assert_eq!(offsets.usage_fields, all, "{offsets:?}");
        let mut sched = offsets;
        btf.sched_offsets(&mut sched)
            .expect("this kernel has what scheduler accounting reads");
        assert!(sched.rq_clock > 0 && sched.rq_clock_task > 0 && sched.task_last_queued > 0);
        assert_eq!(offsets.signal_stime, offsets.signal_utime + 8);
        assert_eq!(
            offsets.signal_read_bytes,
            btf.member_offset("signal_struct", "ioac").unwrap()
                + btf
                    .member_offset("task_io_accounting", "read_bytes")
                    .unwrap()
        );
    }

    #[test]
    fn nested_members_sum_their_offsets_and_report_sizes() {
        // strings: 0 "", 1 "u64", 5 "inner", 11 "outer", 17 "x", 19 "y", 21 "in"
        let strings = b"\0u64\0inner\0outer\0x\0y\0in\0";
        let types = [
            // 1: u64, 8 bytes
            (1, KIND_INT << 24, 8, vec![64]),
            // 2: struct inner { u64 x at 0; u64 y at 8 }
            (5, (KIND_STRUCT << 24) | 2, 16, vec![17, 1, 0, 19, 1, 64]),
            // 3: struct outer { u64 x at 0; struct inner in at 16 }
            (11, (KIND_STRUCT << 24) | 2, 32, vec![17, 1, 0, 21, 2, 128]),
        ];
        let btf = Btf::parse(&blob(strings, &types)).unwrap();
        assert_eq!(btf.member("outer", "in.y").unwrap(), (24, 8));
        assert_eq!(btf.member("outer", "in").unwrap(), (16, 16));
        assert_eq!(btf.u64_member("outer", "in.x").unwrap(), 16);
        assert!(btf.u64_member("outer", "in").is_err());
        assert!(btf.member("outer", "in.z").is_err());
    }
}
