"""Which way tracer answers: through the agent's socket when one runs, else in-process."""

import os
import threading

from . import _native, _types

_native.init(_types.registry())

_lock = threading.Lock()
_state = {"mode": "auto", "socket": None, "agent": None, "pid": None, "tried": False}


def configure(mode="auto", socket=None):
    """``mode``: ``"auto"`` (the agent when one listens, else in-process), ``"agent"`` (the
    agent only: AgentError when none runs) or ``"direct"`` (in-process only). ``socket``: the
    agent's socket (default ``TRACER_SOCKET``, else /run/tracer/tracer.sock)."""
    if mode not in ("auto", "agent", "direct"):
        raise ValueError(f"mode must be auto, agent or direct, not {mode!r}")
    with _lock:
        _state.update(mode=mode, socket=socket, agent=None, pid=None, tried=False)
    if mode == "agent":
        agent()


def socket_path():
    return _state["socket"] or os.fspath(_native.default_socket())


def agent():
    """The agent connection, or None in direct mode (or when none runs, in auto mode)."""
    if _state["mode"] == "direct":
        return None
    pid = os.getpid()
    if _state["pid"] == pid and (_state["agent"] is not None or _state["tried"]):
        return _state["agent"]
    with _lock:
        _state["pid"] = pid
        _state["tried"] = True
        try:
            _state["agent"] = _native.Agent(socket_path())
        except _types.AgentError:
            _state["agent"] = None
            if _state["mode"] == "agent":
                raise
    return _state["agent"]


def forget_agent():
    """After the agent failed: try it again on next use (auto mode falls back meanwhile)."""
    with _lock:
        _state.update(agent=None, tried=_state["mode"] != "agent")


def mode():
    """``"agent"`` or ``"direct"``: how the next call will be answered."""
    return "agent" if agent() is not None else "direct"
