//! The eBPF backend: loads the kernel programs embedded at build time, gives them this kernel's
//! structure offsets (from BTF), attaches them to the sched tracepoints and turns the records
//! they write into [`Event`]s.

pub mod btf;
pub(crate) mod decode;
pub(crate) use decode::KernelPlacement;
mod hold;
pub mod sched;
pub mod scope;

use std::os::fd::AsRawFd;
use std::time::Duration;

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::BtfTracePoint;
use aya::{Ebpf, EbpfLoader};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tracer_common::{control, counter};

use crate::event::{Backend, Event};
use crate::host::clock::Clock;
use crate::source::SourceStats;

/// The kernel programs, compiled by `build.rs` from `tracer-ebpf`.
static PROGRAMS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer-ebpf"));

/// Why the eBPF backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    /// The process lacks the privileges to load BPF programs.
    #[error("eBPF needs root or CAP_BPF + CAP_PERFMON ({0})")]
    NotPermitted(String),
    /// This binary was built without the kernel programs.
    #[error("this tracer binary was built without its eBPF programs ({0}); build it with `cargo xtask build`")]
    NotBuilt(String),
    /// Kernel BTF is missing or lacks a needed field.
    #[error(transparent)]
    Btf(#[from] btf::BtfError),
    /// Loading (including the verifier's verdict) failed.
    #[error("loading the eBPF programs failed: {0}")]
    Load(String),
    /// Attaching a program to its tracepoint failed.
    #[error("attaching {program} to tracepoint {tracepoint} failed: {reason}")]
    Attach {
        /// The program.
        program: &'static str,
        /// The tracepoint.
        tracepoint: &'static str,
        /// The kernel's answer, with the verifier log when there is one.
        reason: String,
    },
    /// Registering the ring buffer with the async runtime failed.
    #[error("watching the ring buffer failed: {0}")]
    Io(#[from] std::io::Error),
}

pub use crate::source::EbpfConfig;
pub use crate::source::ProgramCost;

/// Processes a scoped agent follows after they leave its scope (kernel map `FOLLOWED`).
const FOLLOWED_MAX: u32 = 65_536;

/// The longest the consumer sleeps while the ring stays empty (see `Pace::Asleep`).
const ASLEEP_SAFETY_MAX: Duration = Duration::from_secs(5);

/// Under sustained load the drain interval doubles after each drain that found records, up
/// to this many `drain_interval`s (100 ms): each wake-up of the consumer (and of every
/// subscriber) then carries several times more events. On this kind of VM a wake-up of a
/// thread costs tens of µs of CPU: at 4 (40 ms) the wake-ups of the agent and one
/// subscriber cost more than rendering the events they carried (issue 17's bench). Waiters are not delayed by it (an awaited exit
/// wakes the consumer at once, and the timer falls back to `drain_interval` meanwhile), and
/// the kernel still wakes it early past `wakeup_bytes`.
const BATCHING_STRETCH_MAX: u32 = 10;

/// Each program and the tracepoint it attaches to, in attach order: the end of a process is
/// hooked before its beginning, so a process that starts while the programs are being attached
/// is either seen from its fork on, or not at all (never a fork without its exit).
const PROGRAMS_AND_HOOKS: [(&str, &str); 3] = [
    ("sched_process_exit", "sched_process_exit"),
    ("sched_process_exec", "sched_process_exec"),
    ("sched_process_fork", "sched_process_fork"),
];

/// The floor programs on the same tracepoints (empty, the least a reporting program does, and
/// that with the event's necessary reads), attached with [`EbpfConfig::kernel_floor`] before
/// the lifecycle ones, in this order: on each tracepoint the first program finds the caches as
/// the lifecycle program alone does, so the necessary reads' floor (`floor_reads_*`) comes
/// first and pays the cache misses of those reads; the others run after it, warm.
const FLOOR_PROGRAMS_AND_HOOKS: [(&str, &str); 10] = [
    ("floor_reads_exit", "sched_process_exit"),
    ("floor_record_exit", "sched_process_exit"),
    ("floor_process_exit", "sched_process_exit"),
    ("floor_reads_exec", "sched_process_exec"),
    ("floor_path_exec", "sched_process_exec"),
    ("floor_argv_exec", "sched_process_exec"),
    ("floor_record_exec", "sched_process_exec"),
    ("floor_process_exec", "sched_process_exec"),
    ("floor_record_fork", "sched_process_fork"),
    ("floor_process_fork", "sched_process_fork"),
];

/// The scheduler accounting program, attached after the lifecycle ones with
/// [`EbpfConfig::sched`].
const SCHED_PROGRAMS_AND_HOOKS: [(&str, &str); 1] = [("sched_switch", "sched_switch")];

/// Makes the kernel wake the consumer on every exit while someone waits for one (`wait`
/// latency), instead of batching, and keeps the consumer draining on its timer meanwhile (so
/// a waiter learns when everything up to now was applied). Shared by the waiters; cheap to
/// call. Also holds the `CONTROL` map through which the consumer says it sleeps.
pub struct ExitWakeup {
    control: std::sync::Mutex<aya::maps::Array<MapData, u32>>,
    waiters: std::sync::atomic::AtomicU32,
    /// Wakes a consumer sleeping without a timer when a waiter arrives.
    arrived: tokio::sync::Notify,
}

impl ExitWakeup {
    /// A waiter arrives: exits wake the consumer at once until it leaves.
    pub fn enter(&self) {
        if self
            .waiters
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
            == 0
        {
            self.set(control::EXIT_AWAITED, 1);
        }
        self.arrived.notify_one();
    }

    /// A waiter leaves.
    pub fn leave(&self) {
        if self
            .waiters
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.set(control::EXIT_AWAITED, 0);
        }
    }

    /// Whether anyone waits for an exit.
    fn awaited(&self) -> bool {
        self.waiters.load(std::sync::atomic::Ordering::Acquire) != 0
    }

    fn set(&self, index: u32, value: u32) -> bool {
        match self.control.lock() {
            Ok(mut control) => match control.set(index, value, 0) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("cannot set control {index} of the kernel programs: {e}");
                    false
                }
            },
            Err(_) => false,
        }
    }
}

/// How the consumer waits for records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// Records are coming: drain every `drain_interval` (the kernel wakes it early only past
    /// `wakeup_bytes` or for an awaited exit).
    Batching,
    /// A drain found the ring empty and the kernel was asked to wake the consumer on the next
    /// record: one more drain after `drain_interval`, for a record that another CPU was
    /// committing while the flag was set (it read the flag before).
    Settling,
    /// The ring stays empty: the next record wakes the consumer. Its only timer is a
    /// safety drain backing off to [`ASLEEP_SAFETY_MAX`] (the time since falling asleep):
    /// the kernel looks at the sleep flag only when the ring is empty, so a record another
    /// CPU was still committing when the consumer fell asleep would otherwise hold back
    /// every later one until `wakeup_bytes` are pending.
    Asleep(Duration),
}

/// Lifecycle events from the kernel programs.
pub struct EbpfSource {
    /// Owns the programs and their links: dropping it detaches them.
    ebpf: Ebpf,
    ring: AsyncFd<RingBuf<MapData>>,
    /// The drain timer (a timerfd: one wake-up per batch, where tokio's timers take two past
    /// 64 ms).
    timer: crate::platform::timer::OneShot,
    counters: PerCpuArray<MapData, u64>,
    exit_wakeup: std::sync::Arc<ExitWakeup>,
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
    clock: Clock,
    /// How often the consumer drains while records start coming.
    drain_interval: Duration,
    /// How often it drains now while they keep coming: `drain_interval`, stretched up to
    /// [`BATCHING_STRETCH_MAX`] times under sustained load.
    batching_interval: Duration,
    pace: Pace,
    /// The last drain stopped at its `max`: more is pending at once.
    cut_short: bool,
    /// Keeps BPF run-time statistics on while held.
    _stats_enabled: Option<std::os::fd::OwnedFd>,
    /// The scheduler accounting maps, when its programs run (registered in [`sched`]).
    sched: Option<std::sync::Arc<sched::SchedMaps>>,
    events: u64,
    decode_errors: u64,
    /// CLOCK_BOOTTIME when the last drain started: every record committed before it is read.
    drained_at_ns: u64,
    /// Fills each event's placement from the ids its record carries.
    placer: crate::source::place::Placer,
    /// Whether the final-time program runs (exit events are then held for it).
    final_times: bool,
    /// Whether the empty programs run ([`EbpfConfig::kernel_floor`]).
    floor: bool,
    /// Exit events waiting for their final CPU time.
    held: hold::Held,
    /// Exit events not held while the final-time program runs (someone waited for an exit).
    exits_unheld: u64,
}

/// The final-time program and its tracepoint (see `hold`): it runs on every context switch
/// and returns at once unless the task switched out is dead.
const FINAL_PROGRAM: (&str, &str) = ("sched_switch_final", "sched_switch");

impl EbpfSource {
    /// Loads and attaches the programs. Must run inside a tokio runtime.
    pub fn open(config: &EbpfConfig) -> Result<Self, EbpfError> {
        // The verifier abandons a load with EAGAIN when a signal is pending for the loading
        // thread (on a busy host SIGCHLD arrives all the time): keep signals off this thread
        // while loading; they are delivered to it (or another thread) afterwards.
        let _blocked = crate::platform::SignalsBlocked::new();
        let source = Self::load_and_attach(config);
        // Parsing kernel BTF (twice: ours and aya's) leaves tens of MiB of freed small
        // allocations in the heap; hand them back to the system.
        crate::platform::malloc_trim();
        source
    }

    fn load_and_attach(config: &EbpfConfig) -> Result<Self, EbpfError> {
        if PROGRAMS.is_empty() {
            return Err(EbpfError::NotBuilt(
                "bpf-linker or the nightly toolchain was missing at build time".into(),
            ));
        }
        check_privileges()?;
        let stats_enabled = if config.kernel_stats {
            Some(
                aya::sys::enable_stats(aya::sys::Stats::RunTime).map_err(|e| {
                    EbpfError::Load(format!("enabling BPF run-time statistics: {e}"))
                })?,
            )
        } else {
            None
        };
        let started = std::time::Instant::now();
        let btf = btf::Btf::from_sys_fs()?;
        tracing::debug!(elapsed = ?started.elapsed(), "kernel BTF parsed");
        let mut offsets = btf.kernel_offsets()?;
        offsets.wakeup_bytes = config.wakeup_bytes;
        if !config.scope.is_empty() {
            if offsets.placement == 0 {
                return Err(EbpfError::Load(
                    "--cgroup needs the kernel's cgroup fields in its BTF, which it lacks".into(),
                ));
            }
            let hierarchy = crate::host::container::Hierarchy::discover();
            let mount = hierarchy.v2_mount().ok_or_else(|| {
                EbpfError::Load("--cgroup needs a cgroup v2 hierarchy, and none is mounted".into())
            })?;
            let scopes = scope::resolve(&config.scope, mount).map_err(EbpfError::Load)?;
            offsets.scope_count = scopes.len() as u32;
            for (index, scope) in scopes.iter().enumerate() {
                offsets.scope_ids[index] = scope.id;
                offsets.scope_levels[index] = scope.level;
            }
        }
        offsets.sched = u32::from(config.sched);
        if config.sched {
            btf.sched_offsets(&mut offsets)?;
        }
        // Ours is done: free it before aya parses the same file, so both never coexist.
        drop(btf);
        let aya_btf = aya::Btf::from_sys_fs().map_err(|e| EbpfError::Load(e.to_string()))?;
        tracing::debug!(elapsed = ?started.elapsed(), "kernel BTF parsed by aya");

        let mut ebpf = EbpfLoader::new()
            .btf(Some(&aya_btf))
            .override_global("OFFSETS", &offsets, true)
            .map_max_entries("EVENTS", config.ring_bytes)
            // Processes followed out of the scope: only scoped tracing uses the map, so an
            // unscoped agent keeps it at one entry (an LRU map's entries are preallocated).
            .map_max_entries(
                "FOLLOWED",
                if offsets.scope_count > 0 {
                    FOLLOWED_MAX
                } else {
                    1
                },
            )
            .load(PROGRAMS)
            .map_err(|e| classify_load_error(error_chain(&e)))?;
        tracing::debug!(elapsed = ?started.elapsed(), "object loaded, maps created");
        let logger = match aya_log::EbpfLogger::init(&mut ebpf) {
            Ok(logger) => Some(logger),
            Err(e) => {
                tracing::debug!("kernel-side logging unavailable: {e}");
                None
            }
        };
        let floor = config.kernel_stats && config.kernel_floor;
        let hooks = (if floor {
            &FLOOR_PROGRAMS_AND_HOOKS[..]
        } else {
            &[]
        })
        .iter()
        .chain(&PROGRAMS_AND_HOOKS)
        .chain(if config.sched {
            &SCHED_PROGRAMS_AND_HOOKS[..]
        } else {
            &[]
        });
        for &(program, tracepoint) in hooks {
            let attach = |ebpf: &mut Ebpf| -> Result<(), String> {
                let prog: &mut BtfTracePoint = ebpf
                    .program_mut(program)
                    .ok_or("program missing from the object")?
                    .try_into()
                    .map_err(|e: aya::programs::ProgramError| e.to_string())?;
                // The verifier gives up with EAGAIN when a signal arrives mid-verification
                // (SIGCHLD on a busy host is enough): retry, as libbpf does.
                let mut attempt = 1;
                loop {
                    match prog.load(tracepoint, &aya_btf) {
                        Ok(()) => break,
                        Err(e) => {
                            let message = error_chain(&e);
                            if attempt < 5 && message.contains("os error 11") {
                                attempt += 1;
                                continue;
                            }
                            return Err(message);
                        }
                    }
                }
                tracing::debug!(elapsed = ?started.elapsed(), program, "verified");
                prog.attach().map_err(|e| error_chain(&e))?;
                tracing::debug!(elapsed = ?started.elapsed(), program, "attached");
                Ok(())
            };
            attach(&mut ebpf).map_err(|reason| {
                if is_permission_error(&reason) {
                    EbpfError::NotPermitted(reason)
                } else {
                    EbpfError::Attach {
                        program,
                        tracepoint,
                        reason,
                    }
                }
            })?;
        }
        // Optional: without it exits carry the CPU time read at `sched_process_exit`.
        let final_times = config.final_cpu
            && offsets.usage_fields & tracer_common::USAGE_THREADS != 0
            && match (|| -> Result<(), String> {
                let (program, tracepoint) = FINAL_PROGRAM;
                let prog: &mut BtfTracePoint = ebpf
                    .program_mut(program)
                    .ok_or("program missing from the object")?
                    .try_into()
                    .map_err(|e: aya::programs::ProgramError| e.to_string())?;
                prog.load(tracepoint, &aya_btf)
                    .map_err(|e| error_chain(&e))?;
                prog.attach().map_err(|e| error_chain(&e))?;
                Ok(())
            })() {
                Ok(()) => true,
                Err(reason) => {
                    tracing::warn!(
                        "exit CPU times will miss the exit's last slice and teardown \
                         (the final-time program could not attach: {reason})"
                    );
                    false
                }
            };
        let ring = RingBuf::try_from(
            ebpf.take_map("EVENTS")
                .ok_or_else(|| EbpfError::Load("map EVENTS missing from the object".into()))?,
        )
        .map_err(|e| EbpfError::Load(e.to_string()))?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map("COUNTERS")
                .ok_or_else(|| EbpfError::Load("map COUNTERS missing from the object".into()))?,
        )
        .map_err(|e| EbpfError::Load(e.to_string()))?;
        let control = aya::maps::Array::try_from(
            ebpf.take_map("CONTROL")
                .ok_or_else(|| EbpfError::Load("map CONTROL missing from the object".into()))?,
        )
        .map_err(|e| EbpfError::Load(e.to_string()))?;
        let sched = if config.sched {
            let take = |ebpf: &mut Ebpf, name: &str| {
                ebpf.take_map(name)
                    .ok_or_else(|| EbpfError::Load(format!("map {name} missing from the object")))
            };
            let procs = aya::maps::HashMap::try_from(take(&mut ebpf, "PROC_SCHED")?)
                .map_err(|e| EbpfError::Load(e.to_string()))?;
            let host = PerCpuArray::try_from(take(&mut ebpf, "HOST_SCHED")?)
                .map_err(|e| EbpfError::Load(e.to_string()))?;
            let maps = std::sync::Arc::new(sched::SchedMaps::new(procs, host)?);
            sched::register(std::sync::Arc::clone(&maps));
            Some(maps)
        } else {
            None
        };
        let exit_wakeup = std::sync::Arc::new(ExitWakeup {
            control: std::sync::Mutex::new(control),
            waiters: std::sync::atomic::AtomicU32::new(0),
            arrived: tokio::sync::Notify::new(),
        });
        tracing::debug!(
            ring_fd = ring.as_raw_fd(),
            ?offsets,
            "eBPF programs attached"
        );
        // SAFETY: the ring owns its fd, which stays open and the same until the AsyncFd drops.
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Self {
            ebpf,
            ring,
            timer: crate::platform::timer::OneShot::new()?,
            counters,
            exit_wakeup,
            logger,
            clock: Clock::new()?,
            drain_interval: config.drain_interval,
            batching_interval: config.drain_interval,
            // The first drain decides: records pending keep it batching, none put it to sleep.
            pace: Pace::Batching,
            cut_short: false,
            _stats_enabled: stats_enabled,
            sched,
            events: 0,
            decode_errors: 0,
            drained_at_ns: 0,
            placer: Default::default(),
            final_times,
            floor,
            held: hold::Held::default(),
            exits_unheld: 0,
        })
    }

    /// The switch for immediate exit wake-ups, to hand to waiters.
    pub fn exit_wakeup(&self) -> std::sync::Arc<ExitWakeup> {
        std::sync::Arc::clone(&self.exit_wakeup)
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        Backend::Ebpf
    }

    /// Waits for records and appends up to `max` decoded events to `out`. Returns with `out`
    /// possibly empty (a drain that found nothing).
    ///
    /// Adaptive: while records keep coming it drains every `drain_interval` (one wake-up per
    /// batch); once a drain finds the ring empty it asks the kernel to wake it on the next
    /// record and sleeps without a timer, so an idle host costs nothing. While someone waits
    /// for an exit it keeps draining on its timer, so the waiter learns that everything up to
    /// now was applied. Cancel-safe: records are only taken from the ring after the wait.
    pub async fn next_batch(&mut self, out: &mut Vec<Event>, max: usize) -> std::io::Result<()> {
        if !self.cut_short {
            let timer = match self.pace {
                _ if self.exit_wakeup.awaited() => self.drain_interval,
                Pace::Asleep(slept) => slept,
                Pace::Batching => self.batching_interval,
                Pace::Settling => self.drain_interval,
            };
            // Held exits go out on time (their hold ends, or a drain interval from now);
            // while batching, the next drain is soon enough.
            let timer = match self.held.oldest_ns() {
                Some(_) if self.pace == Pace::Batching => timer,
                None => timer,
                Some(oldest) => {
                    let ends = oldest.saturating_add(hold::HOLD_NS);
                    let left = Duration::from_nanos(ends.saturating_sub(Clock::now_boot_ns()));
                    timer.min(left.max(self.drain_interval))
                }
            };
            tokio::select! {
                guard = self.ring.readable_mut() => guard?.clear_ready(),
                slept = self.timer.sleep(timer) => slept?,
                _ = self.exit_wakeup.arrived.notified() => {}
            }
        }
        if self.drain(out, max) > 0 {
            // The kernel cleared the sleep flag with the first record it wrote after it was
            // set (or it is still set and the next record wakes us once: harmless).
            // Records in two drains in a row: load is sustained, batch more per wake-up.
            self.batching_interval = if self.pace == Pace::Batching {
                (self.batching_interval * 2).min(self.drain_interval * BATCHING_STRETCH_MAX)
            } else {
                self.drain_interval
            };
            self.pace = Pace::Batching;
            return Ok(());
        }
        self.batching_interval = self.drain_interval;
        match self.pace {
            Pace::Batching => {
                // Empty: be woken by the next record from now on. A record committed between
                // the drain and the flag did not wake us: look once more.
                self.pace = if self.exit_wakeup.set(control::CONSUMER_ASLEEP, 1) {
                    Pace::Settling
                } else {
                    Pace::Batching // cannot sleep safely: keep the timer
                };
                if self.drain(out, max) > 0 {
                    self.pace = Pace::Batching;
                }
            }
            Pace::Settling => self.pace = Pace::Asleep(self.drain_interval * 2),
            Pace::Asleep(slept) => {
                self.pace = Pace::Asleep((slept * 2).min(ASLEEP_SAFETY_MAX));
            }
        }
        Ok(())
    }

    /// Decodes up to `max` pending records without waiting. Returns how many were appended.
    pub fn drain(&mut self, out: &mut Vec<Event>, max: usize) -> usize {
        self.drained_at_ns = Clock::now_boot_ns();
        if let Some(logger) = &mut self.logger {
            logger.flush();
        }
        let ring = self.ring.get_mut();
        let before = out.len();
        // Exits are held for their final CPU time unless someone waits for one.
        let hold = self.final_times && !self.exit_wakeup.awaited();
        while out.len() - before < max {
            let Some(item) = ring.next() else { break };
            if let Some(record) = decode::final_record(&item) {
                self.held.complete(&record, out);
                continue;
            }
            match decode::record(&item, &self.clock) {
                Ok((mut event, ids)) => {
                    self.placer.place(&mut event, ids);
                    match decode::exit_raw(&item).filter(|_| self.final_times) {
                        Some(raw) if hold => self.held.hold(event, raw, out),
                        Some(_) => {
                            self.exits_unheld += 1;
                            out.push(event);
                        }
                        None => out.push(event),
                    }
                }
                Err(e) => {
                    self.decode_errors += 1;
                    tracing::warn!("dropping an undecodable ring record: {e}");
                }
            }
        }
        self.held.release(Clock::now_boot_ns(), !hold, out);
        // Records from the oldest held exit on are not all out yet.
        if let Some(oldest) = self.held.oldest_ns() {
            self.drained_at_ns = self.drained_at_ns.min(oldest);
        }
        let added = out.len() - before;
        self.cut_short = added >= max;
        self.events += added as u64;
        added
    }

    /// Run count and run time of each program, as the kernel accounts them (zero unless
    /// [`EbpfConfig::kernel_stats`] is on or `kernel.bpf_stats_enabled` is set).
    pub fn program_costs(&self) -> Vec<ProgramCost> {
        PROGRAMS_AND_HOOKS
            .iter()
            .chain(if self.sched.is_some() {
                &SCHED_PROGRAMS_AND_HOOKS[..]
            } else {
                &[]
            })
            .chain(self.final_times.then_some(&FINAL_PROGRAM))
            .chain(if self.floor {
                &FLOOR_PROGRAMS_AND_HOOKS[..]
            } else {
                &[]
            })
            .filter_map(|(name, _)| {
                let program: &BtfTracePoint = self.ebpf.program(name)?.try_into().ok()?;
                let info = program.info().ok()?;
                Some(ProgramCost {
                    name,
                    run_count: info.run_count(),
                    run_time_ns: info.run_time().as_nanos() as u64,
                })
            })
            .collect()
    }

    /// CLOCK_BOOTTIME at the start of the last drain: records committed before it have been
    /// returned (unless `max` cut the drain short).
    pub fn drained_at_ns(&self) -> u64 {
        self.drained_at_ns
    }

    /// Drains everything the ring holds, for shutdown. A record another CPU is still writing
    /// stops a drain until it is committed, so this drains until the ring stays empty across a
    /// short pause.
    pub fn drain_all(&mut self, out: &mut Vec<Event>) {
        let mut quiet = 0;
        while quiet < 3 {
            if self.drain(out, usize::MAX) > 0 {
                quiet = 0;
            } else {
                quiet += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.held.release(u64::MAX, true, out);
    }

    /// Loss, truncation and volume counters, summed over CPUs.
    pub fn stats(&self) -> SourceStats {
        let read = |index: u32| -> u64 {
            self.counters
                .get(&index, 0)
                .map(|values| values.iter().sum())
                .unwrap_or(0)
        };
        SourceStats {
            backend: Backend::Ebpf,
            events: self.events,
            lost_fork: read(counter::LOST_FORK),
            lost_exec: read(counter::LOST_EXEC),
            lost_exit: read(counter::LOST_EXIT),
            threads_created: read(counter::THREADS_CREATED),
            threads_exited: read(counter::THREADS_EXITED),
            args_truncated: read(counter::ARGS_TRUNCATED),
            read_errors: read(counter::READ_ERRORS),
            decode_errors: self.decode_errors,
            exit_cpu_partial: self.held.expired + self.exits_unheld,
        }
    }
}

impl Drop for EbpfSource {
    fn drop(&mut self) {
        if let Some(maps) = &self.sched {
            sched::unregister(maps);
        }
    }
}

/// Fails early, with the missing capability named, when BPF cannot be loaded.
fn check_privileges() -> Result<(), EbpfError> {
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let status = std::fs::read_to_string("/proc/self/status")?;
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    let has = |cap: u32| effective & (1u64 << cap) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return Ok(());
    }
    let missing: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .into_iter()
        .filter(|(cap, _)| !has(*cap))
        .map(|(_, name)| name)
        .collect();
    Err(EbpfError::NotPermitted(format!(
        "this process lacks {}",
        missing.join(" and ")
    )))
}

fn is_permission_error(message: &str) -> bool {
    message.contains("Operation not permitted") || message.contains("Permission denied")
}

fn classify_load_error(message: String) -> EbpfError {
    if is_permission_error(&message) {
        EbpfError::NotPermitted(message)
    } else {
        EbpfError::Load(message)
    }
}

/// An error with its sources, on one line (the verifier log is kept: it is the useful part).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
