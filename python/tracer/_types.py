"""psutil's named tuples and exceptions for tracer: psutil's own classes when psutil is
importable (so isinstance checks and ``except psutil.NoSuchProcess`` work), the same shapes
made with collections.namedtuple otherwise. Registered with the native module at import."""

import collections
import enum
import socket

try:  # psutil is optional: tracer only borrows its classes.
    import psutil as _psutil
except ImportError:  # pragma: no cover - exercised only where psutil is absent
    _psutil = None

_FIELDS = {
    "pmem": "rss vms shared text lib data dirty",
    "pfullmem": "rss vms shared text lib data dirty uss pss swap",
    "pcputimes": "user system children_user children_system iowait",
    "puids": "real effective saved",
    "pgids": "real effective saved",
    "pctxsw": "voluntary involuntary",
    "pio": "read_count write_count read_bytes write_bytes read_chars write_chars",
    "pionice": "ioclass value",
    "pheap": "heap_used mmap_used",
    "popenfile": "path fd position mode flags",
    "pthread": "id user_time system_time",
    "pmmap_grouped": "path rss size pss shared_clean shared_dirty private_clean private_dirty "
    "referenced anonymous swap",
    "pmmap_ext": "addr perms path rss size pss shared_clean shared_dirty private_clean "
    "private_dirty referenced anonymous swap",
    "pconn": "fd family type laddr raddr status",
    "scputimes": "user nice system idle iowait irq softirq steal guest guest_nice",
    "svmem": "total available percent used free active inactive buffers cached shared slab",
    "sswap": "total used free percent sin sout",
    "sdiskpart": "device mountpoint fstype opts",
    "sdiskusage": "total used free percent",
    "sdiskio": "read_count write_count read_bytes write_bytes read_time write_time "
    "read_merged_count write_merged_count busy_time",
    "snetio": "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin dropout",
    "snicaddr": "family address netmask broadcast ptp",
    "snicstats": "isup duplex speed mtu flags",
    "sconn": "fd family type laddr raddr status pid",
    "addr": "ip port",
    "shwtemp": "label current high critical",
    "sfan": "label current",
    "sbattery": "percent secsleft power_plugged",
    "suser": "name terminal host started pid",
    "scpufreq": "current min max",
    "scpustats": "ctx_switches interrupts soft_interrupts syscalls",
}


def _psutil_type(name):
    if _psutil is None:
        return None
    for module in ("_ntuples", "_pslinux", "_common"):
        try:
            mod = __import__("psutil." + module, fromlist=["_"])
        except ImportError:
            continue
        cls = getattr(mod, name, None)
        if cls is not None and tuple(cls._fields) == tuple(_FIELDS[name].split()):
            return cls
    return None


for _name, _fields in _FIELDS.items():
    globals()[_name] = _psutil_type(_name) or collections.namedtuple(_name, _fields)

# Beyond psutil.
ppagefaults = collections.namedtuple("ppagefaults", "minor major")
pexitusage = collections.namedtuple(
    "pexitusage", "cpu_times peak_rss num_ctx_switches io_counters num_page_faults"
)


class Event:
    """One lifecycle event from the agent (``tracer events --json``'s fields as attributes):
    ``event`` (fork, exec, exit, dropped), ``time``, ``pid``, ``ppid``, ``create_time``,
    ``name``, ``uid``, ``gid``, ``backend``; fork: ``parent_pid``; exec: ``exe``, ``cmdline``;
    exit: ``exit_code``, ``signal``, ``core_dumped``, ``duration``, ``usage``."""

    __slots__ = ("__dict__",)

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def _asdict(self):
        return dict(self.__dict__)

    def __repr__(self):
        keys = ("event", "pid", "name", "exit_code", "signal")
        shown = ", ".join(f"{k}={self.__dict__.get(k)!r}" for k in keys if k in self.__dict__)
        return f"tracer.Event({shown})"


if _psutil is not None:
    IOPriority = type(_psutil.IOPRIO_CLASS_BE) if hasattr(_psutil, "IOPRIO_CLASS_BE") else None
    NicDuplex = type(_psutil.NIC_DUPLEX_FULL)
    BatteryTime = type(_psutil.POWER_TIME_UNKNOWN)
else:  # pragma: no cover
    IOPriority = None
    NicDuplex = None
    BatteryTime = None
if IOPriority is None:  # pragma: no cover
    IOPriority = enum.IntEnum(
        "IOPriority", "IOPRIO_CLASS_NONE IOPRIO_CLASS_RT IOPRIO_CLASS_BE IOPRIO_CLASS_IDLE", start=0
    )
if NicDuplex is None:  # pragma: no cover
    NicDuplex = enum.IntEnum(
        "NicDuplex", "NIC_DUPLEX_UNKNOWN NIC_DUPLEX_HALF NIC_DUPLEX_FULL", start=0
    )


def _message(kind, pid, name, msg):
    details = []
    if pid is not None:
        details.append(f"pid={pid}")
    if name:
        details.append(f"name={name!r}")
    text = msg or kind
    return f"{text} ({', '.join(details)})" if details else text


if _psutil is not None:

    class Error(_psutil.Error):
        """Base of tracer's exceptions (a psutil.Error)."""

    class NoSuchProcess(_psutil.NoSuchProcess, Error):
        """psutil.NoSuchProcess, raised by tracer."""

    class ZombieProcess(_psutil.ZombieProcess, NoSuchProcess):
        """psutil.ZombieProcess, raised by tracer."""

    class AccessDenied(_psutil.AccessDenied, Error):
        """psutil.AccessDenied, raised by tracer."""

    class TimeoutExpired(_psutil.TimeoutExpired, Error):
        """psutil.TimeoutExpired, raised by tracer."""

else:  # pragma: no cover

    class Error(Exception):
        """Base of tracer's exceptions."""

    class NoSuchProcess(Error):
        def __init__(self, pid, name=None, msg=None):
            self.pid, self.name, self.msg = pid, name, msg or "process no longer exists"
            Error.__init__(self, _message(self.msg, pid, name, None))

    class ZombieProcess(NoSuchProcess):
        def __init__(self, pid, name=None, ppid=None, msg=None):
            NoSuchProcess.__init__(
                self, pid, name, msg or "process still exists but it's a zombie"
            )
            self.ppid = ppid

    class AccessDenied(Error):
        def __init__(self, pid=None, name=None, msg=None):
            self.pid, self.name, self.msg = pid, name, msg or ""
            Error.__init__(self, _message(self.msg, pid, name, None))

    class TimeoutExpired(Error):
        def __init__(self, seconds, pid=None, name=None):
            self.seconds, self.pid, self.name = seconds, pid, name
            Error.__init__(self, _message(f"timeout after {seconds} seconds", pid, name, None))


class AgentError(Error):
    """The agent could not answer (it stopped, refused the request, or is not there)."""


def registry():
    """What the native module builds: class name → class."""
    names = list(_FIELDS) + ["ppagefaults", "pexitusage"]
    out = {name: globals()[name] for name in names}
    out.update(
        Event=Event,
        NoSuchProcess=NoSuchProcess,
        ZombieProcess=ZombieProcess,
        AccessDenied=AccessDenied,
        TimeoutExpired=TimeoutExpired,
        AgentError=AgentError,
    )
    return out


def family(value):
    """An address family number as psutil gives it (socket.AddressFamily, psutil.AF_LINK)."""
    try:
        return socket.AddressFamily(value)
    except ValueError:
        return value


def sock_type(value):
    try:
        return socket.SocketKind(value)
    except ValueError:
        return value
