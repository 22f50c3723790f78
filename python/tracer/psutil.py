"""psutil's API, answered by tracer: ``import tracer.psutil as psutil``.

Process listings (``process_iter``, ``pids``, ``children``) and waits (``wait``,
``wait_procs``: the exit code of any process, not only of children) go through the agent's live
table when an agent runs; per-process reads and signals go through the Rust library in-process
(the same /proc files psutil reads, with psutil's semantics), as do the system functions.
"""

import collections
import contextlib
import functools
import os
import signal as _signal
import sys
import threading
import time

from . import _core, _native, _types
from ._types import (  # noqa: F401  (psutil's names, re-exported)
    AccessDenied,
    Error,
    IOPriority,
    NicDuplex,
    NoSuchProcess,
    TimeoutExpired,
    ZombieProcess,
    addr,
    pconn,
    pcputimes,
    pctxsw,
    pfullmem,
    pgids,
    pio,
    pionice,
    pmem,
    popenfile,
    pthread,
    puids,
    sbattery,
    sconn,
    scpufreq,
    scpustats,
    scputimes,
    sdiskio,
    sdiskpart,
    sdiskusage,
    sfan,
    shwtemp,
    snetio,
    snicaddr,
    snicstats,
    sswap,
    suser,
    svmem,
)



def _real_process_class():
    """psutil's own Process class when the program imported psutil (never imported here: see
    _types), else None."""
    real = sys.modules.get("psutil")
    return None if real is None or real is sys.modules[__name__] else getattr(real, "Process", None)

version_info = (7, 2, 2)
__version__ = "7.2.2"
LINUX = sys.platform.startswith("linux")
POSIX = os.name == "posix"
WINDOWS = OSX = MACOS = FREEBSD = OPENBSD = NETBSD = BSD = SUNOS = AIX = False
PROCFS_PATH = "/proc"

STATUS_RUNNING = "running"
STATUS_SLEEPING = "sleeping"
STATUS_DISK_SLEEP = "disk-sleep"
STATUS_STOPPED = "stopped"
STATUS_TRACING_STOP = "tracing-stop"
STATUS_ZOMBIE = "zombie"
STATUS_DEAD = "dead"
STATUS_WAKE_KILL = "wake-kill"
STATUS_WAKING = "waking"
STATUS_IDLE = "idle"
STATUS_LOCKED = "locked"
STATUS_WAITING = "waiting"
STATUS_SUSPENDED = "suspended"
STATUS_PARKED = "parked"

CONN_ESTABLISHED = "ESTABLISHED"
CONN_SYN_SENT = "SYN_SENT"
CONN_SYN_RECV = "SYN_RECV"
CONN_FIN_WAIT1 = "FIN_WAIT1"
CONN_FIN_WAIT2 = "FIN_WAIT2"
CONN_TIME_WAIT = "TIME_WAIT"
CONN_CLOSE = "CLOSE"
CONN_CLOSE_WAIT = "CLOSE_WAIT"
CONN_LAST_ACK = "LAST_ACK"
CONN_LISTEN = "LISTEN"
CONN_CLOSING = "CLOSING"
CONN_NONE = "NONE"

NIC_DUPLEX_FULL = NicDuplex.NIC_DUPLEX_FULL
NIC_DUPLEX_HALF = NicDuplex.NIC_DUPLEX_HALF
NIC_DUPLEX_UNKNOWN = NicDuplex.NIC_DUPLEX_UNKNOWN
AF_LINK = 17
IOPRIO_CLASS_NONE = IOPriority.IOPRIO_CLASS_NONE
IOPRIO_CLASS_RT = IOPriority.IOPRIO_CLASS_RT
IOPRIO_CLASS_BE = IOPriority.IOPRIO_CLASS_BE
IOPRIO_CLASS_IDLE = IOPriority.IOPRIO_CLASS_IDLE
POWER_TIME_UNKNOWN = -1
POWER_TIME_UNLIMITED = -2

_RLIMITS = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
]
for _number, _name in enumerate(_RLIMITS):
    globals()[_name] = _number
RLIM_INFINITY = -1

# What the agent's rows (and the Rust library's as_dict) carry.
_TABLE_ATTRS = frozenset(
    "pid ppid name exe cmdline username uids gids create_time status nice num_threads "
    "terminal cpu_times cpu_num cpu_affinity memory_info memory_full_info memory_percent "
    "num_ctx_switches num_fds io_counters ionice cwd environ open_files threads".split()
)

_boot_time = None
_num_cpus = None


def _cpu_count():
    global _num_cpus
    if _num_cpus is None:
        _num_cpus = cpu_count() or 1
    return _num_cpus


def _check_pid(pid):
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise TypeError(f"pid must be an integer (got {pid!r})")
    if pid < 0:
        raise ValueError(f"pid must be a positive integer (got {pid})")
    return pid


def _memoize_when_activated(fun):
    """psutil's oneshot cache: while ``oneshot()`` is active, each method's result is kept."""

    @functools.wraps(fun)
    def wrapper(self):
        cache = self._cache
        if cache is None:
            return fun(self)
        try:
            return cache[fun]
        except KeyError:
            ret = cache[fun] = fun(self)
            return ret

    return wrapper


_SENTINEL = object()
_new_object = object.__new__


class Process:
    """psutil's Process: ``Process(pid)`` (the current process by default), identified by pid
    and creation time so that a reused pid is not mistaken for it."""

    # What a Process starts with, as class attributes: a Process made from an agent's row
    # (thousands per process_iter) then sets only its pid and creation time.
    _cache = None
    _oneshot_depth = 0
    _name = None
    _exitcode = _SENTINEL
    _last_sys_cpu_times = None
    _last_proc_cpu_times = None
    _ppid = None
    _proc = None

    def __init__(self, pid=None):
        if pid is None:
            pid = os.getpid()
        _check_pid(pid)
        self._pid = pid
        try:
            self._proc = _native.Proc(pid)
        except NoSuchProcess:
            raise NoSuchProcess(pid, msg=f"process PID not found") from None
        self._create_time = self._proc.create_time()

    @classmethod
    def _from_row(cls, pid, create_time):
        self = _new_object(cls)
        self._pid = pid
        self._create_time = create_time
        return self

    @property
    def _ident(self):
        return (self._pid, self._create_time)

    def _handle(self):
        proc = self._proc
        if proc is None:
            try:
                proc = _native.Proc(self._pid)
            except ZombieProcess:
                raise
            except NoSuchProcess:
                raise NoSuchProcess(self._pid, self._name) from None
            if abs(proc.create_time() - self._create_time) > 1e-6:
                raise NoSuchProcess(self._pid, self._name)
            self._proc = proc
        return proc

    def _call(self, method, *args):
        try:
            return getattr(self._handle(), method)(*args)
        except ZombieProcess as e:
            raise ZombieProcess(self._pid, self._name or e.name, self._ppid) from None
        except NoSuchProcess as e:
            raise NoSuchProcess(self._pid, self._name or e.name) from None
        except AccessDenied as e:
            raise AccessDenied(self._pid, self._name or e.name) from None

    # identity

    @property
    def pid(self):
        return self._pid

    def __eq__(self, other):
        real = None if isinstance(other, Process) else _real_process_class()
        if not isinstance(other, Process) and not (real is not None and isinstance(other, real)):
            return NotImplemented
        return self._ident == getattr(other, "_ident", None) or (
            self.pid == other.pid and self.create_time() == other.create_time()
        )

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self._ident)

    def __str__(self):
        info = collections.OrderedDict(pid=self.pid)
        try:
            info["name"] = self.name()
            if self._exitcode not in (_SENTINEL, None):
                info["exitcode"] = self._exitcode
            info["status"] = self.status()
            info["started"] = time.strftime(
                "%Y-%m-%d %H:%M:%S" if time.time() - self._create_time > 86400 else "%H:%M:%S",
                time.localtime(self._create_time),
            )
        except ZombieProcess:
            info["status"] = "zombie"
        except NoSuchProcess:
            info["status"] = "terminated"
        except AccessDenied:
            pass
        return "{}.{}({})".format(
            "psutil",
            self.__class__.__name__,
            ", ".join(f"{k}={v!r}" for k, v in info.items()),
        )

    __repr__ = __str__

    @contextlib.contextmanager
    def oneshot(self):
        """Within it, each method's value is read once and then kept (psutil's oneshot)."""
        if self._oneshot_depth:
            self._oneshot_depth += 1
            try:
                yield
            finally:
                self._oneshot_depth -= 1
            return
        self._oneshot_depth = 1
        self._cache = {}
        try:
            yield
        finally:
            self._oneshot_depth = 0
            self._cache = None

    def as_dict(self, attrs=None, ad_value=None):
        valid = _as_dict_attrnames
        if attrs is not None:
            if not isinstance(attrs, (list, tuple, set, frozenset)):
                raise TypeError(f"invalid attrs type {type(attrs)}")
            attrs = set(attrs)
            invalid = attrs - valid
            if invalid:
                raise ValueError(
                    "invalid attr name{} {}".format(
                        "s" if len(invalid) > 1 else "", ", ".join(map(repr, invalid))
                    )
                )
        ret = {}
        with self.oneshot():
            for name in attrs or valid:
                try:
                    value = self.pid if name == "pid" else getattr(self, name)()
                except (AccessDenied, ZombieProcess):
                    value = ad_value
                except NotImplementedError:
                    if attrs:
                        raise
                    continue
                ret[name] = value
        return ret

    # attributes

    def parent(self):
        lowest = self._create_time
        ppid = self.ppid()
        if ppid:
            try:
                parent = Process(ppid)
                if parent.create_time() <= lowest:
                    return parent
            except NoSuchProcess:
                pass
        return None

    def parents(self):
        parents = []
        proc = self.parent()
        while proc is not None:
            parents.append(proc)
            proc = proc.parent()
        return parents

    def is_running(self):
        if self._proc is None:
            try:
                self._handle()
            except (NoSuchProcess, AccessDenied):
                return False
        return self._proc.is_running() or self._zombie()

    def _zombie(self):
        try:
            return self._proc.status() == STATUS_ZOMBIE
        except Error:
            return False

    @_memoize_when_activated
    def ppid(self):
        self._ppid = self._call("ppid")
        return self._ppid

    @_memoize_when_activated
    def name(self):
        name = self._call("name")
        self._name = name
        return name

    @_memoize_when_activated
    def exe(self):
        return self._call("exe")

    @_memoize_when_activated
    def cmdline(self):
        return self._call("cmdline")

    @_memoize_when_activated
    def status(self):
        return self._call("status")

    @_memoize_when_activated
    def username(self):
        return self._call("username")

    def create_time(self):
        return self._create_time

    @_memoize_when_activated
    def cwd(self):
        return self._call("cwd")

    def nice(self, value=None):
        if value is None:
            return self._nice()
        if not self.is_running():
            raise NoSuchProcess(self._pid, self._name)
        try:
            os.setpriority(os.PRIO_PROCESS, self._pid, value)
        except PermissionError:
            raise AccessDenied(self._pid, self._name) from None
        except ProcessLookupError:
            raise NoSuchProcess(self._pid, self._name) from None

    @_memoize_when_activated
    def _nice(self):
        return self._call("nice")

    @_memoize_when_activated
    def uids(self):
        return self._call("uids")

    @_memoize_when_activated
    def gids(self):
        return self._call("gids")

    @_memoize_when_activated
    def terminal(self):
        return self._call("terminal")

    @_memoize_when_activated
    def num_fds(self):
        return self._call("num_fds")

    @_memoize_when_activated
    def io_counters(self):
        return self._call("io_counters")

    def ionice(self, ioclass=None, value=None):
        if ioclass is None:
            if value is not None:
                raise ValueError("'ioclass' argument must be specified")
            klass, level = self._call("ionice")
            return pionice(IOPriority(klass), level)
        # psutil's checks and messages (_pslinux.ionice_set), then ioprio_set in the library.
        if value is None:
            value = 0
        if value and ioclass in {IOPRIO_CLASS_IDLE, IOPRIO_CLASS_NONE}:
            raise ValueError(f"{ioclass!r} ioclass accepts no value")
        if value < 0 or value > 7:
            raise ValueError("value not in 0-7 range")
        self._call("set_ionice", ioclass, value)

    def rlimit(self, resource, limits=None):
        if not isinstance(resource, int) or not 0 <= resource < len(_RLIMITS):
            raise ValueError(f"invalid resource {resource!r}")
        if limits is None:
            return self._call("rlimit", resource)
        import resource as _resource

        try:
            soft, hard = limits
        except (TypeError, ValueError):
            raise ValueError(f"second argument must be a (soft, hard) tuple, got {limits!r}")
        if not self.is_running():
            raise NoSuchProcess(self._pid, self._name)
        try:
            _resource.prlimit(self._pid, resource, (soft, hard))
        except PermissionError:
            raise AccessDenied(self._pid, self._name) from None
        except ProcessLookupError:
            raise NoSuchProcess(self._pid, self._name) from None

    def cpu_affinity(self, cpus=None):
        if cpus is None:
            return sorted(set(self._call("cpu_affinity")))
        if not cpus:
            cpus = list(range(len(cpu_times(percpu=True))))
        if not self.is_running():
            raise NoSuchProcess(self._pid, self._name)
        try:
            os.sched_setaffinity(self._pid, list(cpus))
        except PermissionError:
            raise AccessDenied(self._pid, self._name) from None
        except ProcessLookupError:
            raise NoSuchProcess(self._pid, self._name) from None

    @_memoize_when_activated
    def cpu_num(self):
        return self._call("cpu_num")

    @_memoize_when_activated
    def environ(self):
        return self._call("environ")

    @_memoize_when_activated
    def num_ctx_switches(self):
        return self._call("num_ctx_switches")

    @_memoize_when_activated
    def num_threads(self):
        return self._call("num_threads")

    @_memoize_when_activated
    def threads(self):
        return self._call("threads")

    def children(self, recursive=False):
        if not self.is_running():
            raise NoSuchProcess(self._pid, self._name)
        agent = _core.agent()
        if agent is None:
            pairs = self._call("children", bool(recursive))
            return [Process._from_row(pid, ctime) for pid, ctime in pairs]
        rows = _agent_query(agent, ["ppid"])
        by_parent = collections.defaultdict(list)
        for pid, ctime, info in rows:
            by_parent[info["ppid"]].append((pid, ctime))
        out, todo, seen = [], [(self._pid, self._create_time)], set()
        while todo:
            parent, parent_ctime = todo.pop(0)
            for pid, ctime in by_parent.get(parent, ()):
                if pid in seen or ctime < parent_ctime:
                    continue
                seen.add(pid)
                out.append(Process._from_row(pid, ctime))
                if recursive:
                    todo.append((pid, ctime))
            if not recursive:
                break
        return out

    def cpu_percent(self, interval=None):
        blocking = interval is not None and interval > 0.0
        if interval is not None and interval < 0:
            raise ValueError(f"interval is not positive (got {interval!r})")
        num_cpus = _cpu_count()

        def timer():
            return time.monotonic() * num_cpus

        if blocking:
            st1, pt1 = timer(), self.cpu_times()
            time.sleep(interval)
            st2, pt2 = timer(), self.cpu_times()
        else:
            st1, pt1 = self._last_sys_cpu_times, self._last_proc_cpu_times
            st2, pt2 = timer(), self.cpu_times()
            if st1 is None or pt1 is None:
                self._last_sys_cpu_times, self._last_proc_cpu_times = st2, pt2
                return 0.0
        delta_proc = (pt2.user - pt1.user) + (pt2.system - pt1.system)
        delta_time = st2 - st1
        self._last_sys_cpu_times, self._last_proc_cpu_times = st2, pt2
        try:
            overall = (delta_proc / delta_time) * 100
        except ZeroDivisionError:
            return 0.0
        return round(overall * num_cpus, 1)

    @_memoize_when_activated
    def cpu_times(self):
        return self._call("cpu_times")

    @_memoize_when_activated
    def memory_info(self):
        return self._call("memory_info")

    def memory_full_info(self):
        return self._call("memory_full_info")

    def memory_percent(self, memtype="rss"):
        valid = pfullmem._fields
        if memtype not in valid:
            raise ValueError(f"invalid memtype {memtype!r}; valid types are {valid!r}")
        info = self.memory_info() if memtype in pmem._fields else self.memory_full_info()
        used = getattr(info, memtype)
        total = virtual_memory().total
        if not total:
            return 0.0
        return (used / total) * 100

    def memory_maps(self, grouped=True):
        """psutil's: the mappings of /proc/PID/smaps (read by the Rust library), summed by
        path when ``grouped`` (``pmmap_grouped``), else one ``pmmap_ext`` per mapping."""
        rows = self._call("memory_maps")
        if not grouped:
            return [_types.pmmap_ext(*row) for row in rows]
        sums = {}
        for row in rows:
            path, nums = row[2], row[3:]
            old = sums.get(path)
            sums[path] = nums if old is None else [a + b for a, b in zip(old, nums)]
        return [_types.pmmap_grouped(path, *nums) for path, nums in sums.items()]

    @_memoize_when_activated
    def open_files(self):
        return self._call("open_files")

    def net_connections(self, kind="inet"):
        rows = self._call("net_connections", kind)
        return [
            pconn(
                c["fd"],
                _types.family(c["family"]),
                _types.sock_type(c["type"]),
                _addr(c["laddr"]),
                _addr(c["raddr"]),
                c["status"],
            )
            for c in rows
        ]

    connections = net_connections

    # signals (in-process: the kernel applies kill(2)'s rules to the caller itself)

    def send_signal(self, sig):
        if self._pid == 0:
            raise ValueError("preventing sending signal to process with PID 0")
        self._call("send_signal", int(sig))

    def suspend(self):
        self.send_signal(_signal.SIGSTOP)

    def resume(self):
        self.send_signal(_signal.SIGCONT)

    def terminate(self):
        self.send_signal(_signal.SIGTERM)

    def kill(self):
        self.send_signal(_signal.SIGKILL)

    def wait(self, timeout=None):
        """The exit code, for any process (through the agent, or in-process with eBPF after
        ``tracer.start()``): negative signal number when a signal ended it; None when unknown
        (psutil's value for a process that is not our child)."""
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be a positive integer, got {timeout!r}")
        if self._exitcode is not _SENTINEL:
            return self._exitcode
        gone, alive = _wait([self], timeout)
        if alive:
            raise TimeoutExpired(timeout, self._pid, self._name)
        return self._exitcode

    def exit_usage(self):
        """After ``wait``/``wait_procs``: what the process consumed in all (``pexitusage``),
        when its exit was seen with usage (through the agent, or after ``tracer.start()``)."""
        return getattr(self, "_usage", None)



_as_dict_attrnames = {
    x
    for x in dir(Process)
    if not x.startswith("_")
    and x
    not in {
        "send_signal",
        "suspend",
        "resume",
        "terminate",
        "kill",
        "wait",
        "is_running",
        "as_dict",
        "parent",
        "parents",
        "children",
        "rlimit",
        "connections",
        "oneshot",
        "exit_usage",
    }
}


def _addr(value):
    if isinstance(value, dict):
        return addr(value["ip"], value["port"])
    if isinstance(value, list):
        return tuple(value)
    return value


# --- waiting ------------------------------------------------------------------------------


def _is_child(proc):
    try:
        return proc.ppid() == os.getpid()
    except Error:
        return False


def _wait(procs, timeout):
    """Waits for ``procs``; sets ``_exitcode`` (and ``_usage``) on the gone; returns
    ``(gone, alive)`` in the order they ended (children first)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    remaining = lambda: None if deadline is None else max(0.0, deadline - time.monotonic())  # noqa
    gone, alive = [], []
    agent = _core.agent()
    children = [p for p in procs if agent is None or _is_child(p)]
    others = [p for p in procs if p not in children]
    for proc in children:
        try:
            code = proc._call("wait", remaining())
        except TimeoutExpired:
            alive.append(proc)
            continue
        except NoSuchProcess:
            code = None
        proc._exitcode = code
        try:
            proc._usage = proc._handle().exit_usage()
        except Error:
            proc._usage = None
        gone.append(proc)
    if others:
        g, a = _agent_wait(agent, others, remaining)
        gone += g
        alive += a
    return gone, alive


def _agent_wait(agent, procs, remaining):
    by_pid = {p.pid: p for p in procs}
    try:
        answer = agent.wait(list(by_pid), remaining())
        batches = [answer]
    except NoSuchProcess:
        # One of them was gone before the agent was asked: one at a time.
        batches = []
        for proc in procs:
            try:
                batches.append(agent.wait([proc.pid], remaining()))
            except NoSuchProcess:
                batches.append(([(proc.pid, proc._name, _exited_code(agent, proc), None)], []))
    gone, alive = [], []
    for g, a in batches:
        for pid, name, code, usage in g:
            proc = by_pid[pid]
            proc._exitcode, proc._usage = code, usage
            if name and not proc._name:
                proc._name = name
            gone.append(proc)
        for pid, _ in a:
            alive.append(by_pid[pid])
    return gone, alive


def _exited_code(agent, proc):
    """The exit code of a process that is already gone, from the agent's exited table."""
    rows = agent.query(["exit_code", "signal"], [proc.pid], [], True, None)
    for pid, ctime, info in rows:
        if abs(ctime - proc._create_time) < 1e-6:
            if info["exit_code"] is not None:
                return info["exit_code"]
            if info["signal"] is not None:
                return -info["signal"]
    return None


def wait_procs(procs, timeout=None, callback=None):
    """psutil's wait_procs: ``(gone, alive)``; each gone process has ``.returncode`` (for any
    process through the agent) and ``exit_usage()``."""

    def check_gone(proc):
        proc.returncode = proc._exitcode
        if callback is not None:
            callback(proc)

    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be a positive integer, got {timeout}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback {callback!r} is not a callable")
    procs = list(procs)
    pending = [p for p in procs if p._exitcode is _SENTINEL]
    gone, alive = _wait(pending, timeout) if pending else ([], [])
    gone = [p for p in procs if p._exitcode is not _SENTINEL and p not in gone] + gone
    for proc in gone:
        check_gone(proc)
    return gone, alive


# --- listing ------------------------------------------------------------------------------


def _agent_query(agent, attrs, ad_value=None, pids=(), flat=False):
    try:
        return agent.query(list(attrs), list(pids), [], False, ad_value, flat)
    except _types.AgentError:
        _core.forget_agent()
        raise


def pids():
    agent = _core.agent()
    if agent is not None:
        try:
            return [pid for pid, _, _ in _agent_query(agent, [])]
        except _types.AgentError:
            pass
    return _native.pids()


def pid_exists(pid):
    if pid < 0:
        return False
    if pid == 0:
        return 0 in pids()
    return _native.pid_exists(pid)


_pmap = {}
_pmap_lock = threading.Lock()


def process_iter(attrs=None, ad_value=None):
    """psutil's process_iter: every process sorted by pid; with ``attrs``, each carries
    ``.info`` read at once (one agent query when an agent runs)."""
    if attrs is not None:
        if not isinstance(attrs, (list, tuple, set, frozenset)):
            raise TypeError(f"invalid attrs type {type(attrs)}")
        attrs = list(attrs) or sorted(_as_dict_attrnames)
        invalid = set(attrs) - _as_dict_attrnames
        if invalid:
            raise ValueError(f"invalid attr names {', '.join(map(repr, invalid))}")
    table_only = attrs is not None and set(attrs) <= _TABLE_ATTRS
    with_info = attrs is not None and table_only
    ionice = with_info and "ionice" in attrs
    procs = None
    agent = _core.agent()
    if agent is not None:
        # The objects are made by the native side, each with its row as .info; those of the
        # last listing are reused (psutil's cache).
        try:
            with _pmap_lock:
                procs = agent.query(
                    attrs if table_only else [], [], [], False, ad_value, False,
                    (Process, _pmap, with_info),
                )
        except _types.AgentError:
            _core.forget_agent()
    if procs is None:
        procs = _iter_direct(attrs if table_only else [], ad_value, with_info)
    if ionice:
        for proc in procs:
            if isinstance(proc.info["ionice"], tuple):
                klass, level = proc.info["ionice"]
                proc.info["ionice"] = pionice(IOPriority(klass), level)
    if attrs is None or with_info:
        yield from procs
        return
    for proc in procs:
        try:
            proc.info = proc.as_dict(attrs, ad_value)
        except NoSuchProcess:
            continue
        yield proc


def _iter_direct(attrs, ad_value, with_info):
    """process_iter's objects in-process, from the library's rows (a flat list)."""
    rows = _native.process_iter(attrs, ad_value)
    seen = {}
    procs = []
    with _pmap_lock:
        get = _pmap.get
        new = _new_object
        flat = iter(rows)  # [pid, create_time, info, pid, …]
        for pid, ctime, info in zip(flat, flat, flat):
            proc = get(pid)
            if proc is None or proc._create_time != ctime:
                proc = new(Process)
                proc._pid = pid
                proc._create_time = ctime
            seen[pid] = proc
            if with_info:
                proc.info = info
            procs.append(proc)
        _pmap.clear()
        _pmap.update(seen)
    return procs


process_iter.cache_clear = _pmap.clear


# --- system -------------------------------------------------------------------------------


def _tuple(cls, value):
    return None if value is None else cls(**value)


def _named(pairs):
    return dict((k, v) for k, v in pairs)


def cpu_count(logical=True):
    return _native.sys("cpu_count", logical)


def cpu_times(percpu=False):
    value = _native.sys("cpu_times", percpu)
    return [scputimes(**v) for v in value] if percpu else scputimes(**value)


_last_cpu = {"all": None, "per": None}


def _percent(t1, t2):
    all1, all2 = sum(t1), sum(t2)
    busy1 = all1 - t1.idle - t1.iowait
    busy2 = all2 - t2.idle - t2.iowait
    if busy2 <= busy1:
        return 0.0
    delta = all2 - all1
    if delta <= 0:
        return 0.0
    return round(min(max((busy2 - busy1) / delta * 100, 0.0), 100.0), 1)


def cpu_percent(interval=None, percpu=False):
    if interval is not None and interval < 0:
        raise ValueError(f"interval is not positive (got {interval!r})")
    key = "per" if percpu else "all"
    if interval:
        t1 = cpu_times(percpu)
        time.sleep(interval)
    else:
        t1 = _last_cpu[key] or cpu_times(percpu)
    t2 = cpu_times(percpu)
    _last_cpu[key] = t2
    if percpu:
        return [_percent(a, b) for a, b in zip(t1, t2)]
    return _percent(t1, t2)


def cpu_stats():
    return scpustats(**_native.sys("cpu_stats"))


def cpu_freq(percpu=False):
    value = _native.sys("cpu_freq", percpu)
    if percpu:
        return [scpufreq(**v) for v in value]
    return _tuple(scpufreq, value)


def getloadavg():
    return tuple(_native.sys("getloadavg"))


def virtual_memory():
    return svmem(**_native.sys("virtual_memory"))


def swap_memory():
    return sswap(**_native.sys("swap_memory"))


def disk_partitions(all=False):
    return [sdiskpart(**v) for v in _native.sys("disk_partitions", all)]


def disk_usage(path):
    return sdiskusage(**_native.sys("disk_usage", os.fspath(path)))


def disk_io_counters(perdisk=False, nowrap=True):
    value = _native.sys("disk_io_counters", perdisk)
    if perdisk:
        return {k: sdiskio(**v) for k, v in value}
    return _tuple(sdiskio, value)


def net_io_counters(pernic=False, nowrap=True):
    value = _native.sys("net_io_counters", pernic)
    if pernic:
        return {k: snetio(**v) for k, v in value}
    return _tuple(snetio, value)


def net_if_addrs():
    out = {}
    for name, addrs in _native.sys("net_if_addrs"):
        out[name] = [
            snicaddr(_types.family(a["family"]), a["address"], a["netmask"], a["broadcast"], a["ptp"])
            for a in addrs
        ]
    return out


def net_if_stats():
    out = {}
    for name, s in _native.sys("net_if_stats"):
        out[name] = snicstats(s["isup"], NicDuplex(s["duplex"]), s["speed"], s["mtu"], s["flags"])
    return out


def net_connections(kind="inet"):
    return [
        sconn(
            c["fd"],
            _types.family(c["family"]),
            _types.sock_type(c["type"]),
            _addr(c["laddr"]),
            _addr(c["raddr"]),
            c["status"],
            c["pid"],
        )
        for c in _native.sys("net_connections", kind)
    ]


def sensors_temperatures(fahrenheit=False):
    out = {}
    for name, temps in _native.sys("sensors_temperatures"):
        items = []
        for t in temps:
            if fahrenheit:
                t = {k: (v * 9 / 5 + 32 if isinstance(v, float) else v) for k, v in t.items()}
            items.append(shwtemp(**t))
        out[name] = items
    return out


def sensors_fans():
    return {name: [sfan(**f) for f in fans] for name, fans in _native.sys("sensors_fans")}


def sensors_battery():
    return _tuple(sbattery, _native.sys("sensors_battery"))


def boot_time():
    return _native.sys("boot_time")


def users():
    return [suser(**u) for u in _native.sys("users")]


# psutil's heap functions exist on Linux only with glibc: so here. The Rust library reads
# glibc's mallinfo2 / calls malloc_trim itself rather than through psutil, so that they work
# without psutil; the extension shares the interpreter's allocator, so the figures are the
# ones psutil reads.
if _native.heap_info() is not None:

    def heap_info():
        """glibc's heap statistics for this process: ``pheap(heap_used, mmap_used)``."""
        return _types.pheap(*_native.heap_info())

    def heap_trim():
        """Asks glibc's allocator to return unused heap memory to the system."""
        _native.heap_trim()


def _times_percent(t1, t2):
    all_delta = sum(t2) - sum(t1)
    values = []
    for a, b in zip(t1, t2):
        field_delta = b - a
        try:
            value = 100 * field_delta / all_delta
        except ZeroDivisionError:
            value = 0.0
        values.append(round(min(max(value, 0.0), 100.0), 1))
    return scputimes(*values)


_last_times = {"all": None, "per": None}


def cpu_times_percent(interval=None, percpu=False):
    if interval is not None and interval < 0:
        raise ValueError(f"interval is not positive (got {interval!r})")
    key = "per" if percpu else "all"
    if interval:
        t1 = cpu_times(percpu)
        time.sleep(interval)
    else:
        t1 = _last_times[key] or cpu_times(percpu)
    t2 = cpu_times(percpu)
    _last_times[key] = t2
    if percpu:
        return [_times_percent(a, b) for a, b in zip(t1, t2)]
    return _times_percent(t1, t2)
