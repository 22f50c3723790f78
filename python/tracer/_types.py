"""psutil's named tuples and exceptions for tracer: psutil's own classes when psutil is
importable (so isinstance checks and ``except psutil.NoSuchProcess`` work), the same shapes
made with collections.namedtuple otherwise. Registered with the native module at import.

psutil itself is not imported here (its package import costs a whole-process run more than
tracer's own start-up): when the program has not imported it yet, only the two modules that
define those classes, ``psutil._common`` and ``psutil._ntuples``, are loaded, under their own
names, so that a later ``import psutil`` finds and uses these very modules — one class for
each exception and tuple either way — and a one-time import hook sets them as the package's
attributes once it has loaded."""

import collections
import enum
import importlib.machinery
import importlib.util
import os
import socket
import sys

_SUBMODULES = ("_common", "_ntuples")


class _AttachSubmodules:
    """A one-time meta-path finder: when ``psutil`` is imported after tracer loaded its
    ``_common`` and ``_ntuples``, binds them as the package's attributes after it has run
    (the import system binds only the submodules it loads itself)."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "psutil":
            return None
        try:
            sys.meta_path.remove(cls)
        except ValueError:  # pragma: no cover - removed by another thread's import
            pass
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            for sub in _SUBMODULES:
                loaded = sys.modules.get("psutil." + sub)
                if loaded is not None and not hasattr(module, sub):
                    setattr(module, sub, loaded)
            _adopt_platform_classes()

        spec.loader.exec_module = exec_module
        return spec


def _load_psutil_classes():
    """psutil's ``_common`` and ``_ntuples`` (a namespace with both), or None without psutil.
    The package itself when the program already imported it."""
    if "psutil" in sys.modules:
        try:
            import psutil._common  # noqa: F401  (already loaded by the package)
            import psutil._ntuples  # noqa: F401
        except ImportError:  # pragma: no cover - psutil < 7 has no _ntuples
            pass
        return sys.modules["psutil"]
    try:
        spec = importlib.machinery.PathFinder.find_spec("psutil")
    except (ImportError, ValueError):  # pragma: no cover
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    loaded = []
    for sub in _SUBMODULES:
        name = "psutil." + sub
        module = sys.modules.get(name)
        if module is None:
            sub_spec = None
            for folder in spec.submodule_search_locations:
                path = os.path.join(folder, sub + ".py")
                if os.path.exists(path):
                    sub_spec = importlib.util.spec_from_file_location(name, path)
                    break
            if sub_spec is None:
                break
            module = importlib.util.module_from_spec(sub_spec)
            sys.modules[name] = module
            try:
                sub_spec.loader.exec_module(module)
            except Exception:  # pragma: no cover - an unexpected psutil: import it whole
                del sys.modules[name]
                for done in loaded:
                    sys.modules.pop(done.__name__, None)
                import psutil

                return psutil
        loaded.append(module)
    if not loaded or not hasattr(loaded[0], "NoSuchProcess"):  # pragma: no cover
        import psutil

        return psutil
    sys.meta_path.insert(0, _AttachSubmodules)
    return _Namespace(loaded)


class _Namespace:
    """Attribute lookups over psutil's loaded submodules, as over the package."""

    def __init__(self, modules):
        self._modules = modules

    def __getattr__(self, name):
        for module in self._modules:
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(name)


_psutil = _load_psutil_classes()

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
    for module in _SUBMODULES + ("_pslinux",):
        cls = getattr(sys.modules.get("psutil." + module), name, None)
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


_REGISTRY = {}


def registry():
    """What the native module builds: class name → class (one dict, kept: psutil's platform
    classes replace tracer's there when psutil is imported later)."""
    names = list(_FIELDS) + ["ppagefaults", "pexitusage"]
    _REGISTRY.update({name: globals()[name] for name in names})
    _REGISTRY.update(
        Event=Event,
        NoSuchProcess=NoSuchProcess,
        ZombieProcess=ZombieProcess,
        AccessDenied=AccessDenied,
        TimeoutExpired=TimeoutExpired,
        AgentError=AgentError,
    )
    return _REGISTRY


def _adopt_platform_classes():
    """After a late ``import psutil``: the classes only its platform module defines
    (``scputimes``, made at its import, and ``IOPriority``) replace tracer's stand-ins, in
    this module, the native registry and tracer.psutil's names, so that values are of
    psutil's own classes from then on, as when psutil was imported first."""
    global IOPriority
    targets = [globals(), _REGISTRY]
    ours = sys.modules.get("tracer.psutil")
    if ours is not None:
        targets.append(vars(ours))
    for name in _FIELDS:
        theirs = _psutil_type(name)
        if theirs is not None and theirs is not globals()[name]:
            for names in targets:
                if name in names:
                    names[name] = theirs
    platform = sys.modules.get("psutil._pslinux")
    theirs = getattr(platform, "IOPriority", None)
    if theirs is not None and theirs is not IOPriority:
        IOPriority = theirs
        if ours is not None:
            names = vars(ours)
            names["IOPriority"] = theirs
            for member in theirs:
                if member.name in names:
                    names[member.name] = member


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
