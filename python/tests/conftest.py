"""Fixtures: a real `tracer agent` on a private socket (the release binary in TRACER_BIN),
and the two modes tracer.psutil answers in."""

import os
import socket
import subprocess
import sys
import time

import pytest

import tracer


def _binary():
    path = os.environ.get("TRACER_BIN")
    if not path:
        pytest.fail("TRACER_BIN must name the release tracer binary (cargo xtask test sets it)")
    return path


@pytest.fixture(scope="session")
def agent_socket(tmp_path_factory):
    """Starts `tracer agent --socket TMP` for the session and stops it with SIGTERM."""
    path = str(tmp_path_factory.mktemp("agent") / "tracer.sock")
    proc = subprocess.Popen(
        [_binary(), "agent", "--socket", path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the agent exited with {proc.returncode}: {proc.stderr.read().decode()}")
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the agent did not listen within 30 s")
            time.sleep(0.05)
    yield path
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["agent", "direct"])
def mode(request):
    """Each test using it runs through the agent and in-process."""
    if request.param == "agent":
        path = request.getfixturevalue("agent_socket")
        tracer.configure("agent", path)
    else:
        tracer.configure("direct")
    yield request.param
    tracer.configure("auto")


@pytest.fixture
def via_agent(agent_socket):
    tracer.configure("agent", agent_socket)
    yield agent_socket
    tracer.configure("auto")


@pytest.fixture
def sleeper():
    """A child process that sleeps, with a non-UTF-8 argument; handed over once it says it is
    about to sleep (its start-up done: no more files opened or mapped), not after a guess."""
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; print('ready', flush=True); time.sleep(60)", b"caf\xe9"],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout.readline() == b"ready\n"
    time.sleep(0.05)  # from the print into the sleep
    yield proc
    proc.kill()
    proc.wait()
