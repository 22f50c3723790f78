"""tracer for Python: ``import tracer.psutil as psutil`` gives psutil's API, answered by the
tracer agent's live table when one runs (``tracer agent``), in-process through the Rust library
otherwise. Beyond psutil: :func:`events` (lifecycle events as they happen), :func:`exited`
(recently exited processes with exit status and final usage), and the exit usage on
``wait_procs``' gone processes."""

from . import _core, _native
from ._core import configure, mode
from ._types import (
    AccessDenied,
    AgentError,
    Error,
    Event,
    NoSuchProcess,
    TimeoutExpired,
    ZombieProcess,
)

__all__ = [
    "AccessDenied",
    "AgentError",
    "Error",
    "Event",
    "NoSuchProcess",
    "TimeoutExpired",
    "ZombieProcess",
    "configure",
    "events",
    "exited",
    "mode",
    "start",
]


def _agent_or_fail(what):
    agent = _core.agent()
    if agent is None:
        raise AgentError(f"{what} needs the tracer agent (none at {_core.socket_path()})")
    return agent


def events(pids=(), ppids=(), uids=(), names=(), kinds=(), replay_exited=False):
    """An iterator of lifecycle events from the agent (``tracer events``' stream): each a
    :class:`Event`. Filters: ``pids``, ``ppids`` (children of), ``uids``, ``names``, ``kinds``
    (``"fork"``, ``"exec"``, ``"exit"``); ``replay_exited`` starts with the recently exited
    processes' exit events. Close it with ``.close()``; the GIL is free while it waits."""
    agent = _agent_or_fail("events()")
    return agent.subscribe(
        list(pids), list(ppids), list(uids), list(names), list(kinds), bool(replay_exited)
    )


EXITED_ATTRS = [
    "pid",
    "ppid",
    "name",
    "exe",
    "cmdline",
    "username",
    "create_time",
    "exit_code",
    "signal",
    "duration",
    "exit_time",
    "cpu_times",
    "memory_info",
    "num_ctx_switches",
    "io_counters",
    "num_page_faults",
]


def exited(pids=(), ppids=(), attrs=None):
    """Recently exited processes (``tracer ps --exited``) from the agent, as dicts of
    ``attrs`` (default :data:`EXITED_ATTRS`): exit code, signal, duration and final usage
    (``memory_info`` holds only the peak ``rss``)."""
    agent = _agent_or_fail("exited()")
    attrs = list(attrs or EXITED_ATTRS)
    rows = agent.query(attrs, list(pids), list(ppids), True, None)
    return [info for _, _, info in rows]


def start():
    """In-process mode: load the kernel programs (root) so that ``wait`` knows the exit code
    of any process, as the agent does. Returns the feed (``"ebpf"``, or ``"snapshot"`` when
    they could not load)."""
    return _native.start()
