"""What psutil lacks: exit codes of any process, exit usage, events, exited processes."""

import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

import tracer
import tracer.psutil as tps


def spawn_grandchild(code):
    """A process that is not our child: started by a shell that exits at once."""
    out = subprocess.run(
        ["sh", "-c", f"{sys.executable} -c {code!r} >/dev/null 2>&1 & echo $!"],
        capture_output=True, text=True, check=True,
    )
    return int(out.stdout)


def test_wait_procs_on_a_non_child_gives_its_exit_code(via_agent):
    pid = spawn_grandchild("import time; time.sleep(0.3); raise SystemExit(7)")
    proc = tps.Process(pid)
    assert proc.ppid() != os.getpid()
    # psutil cannot know it: None.
    assert psutil.Process(pid).ppid() != os.getpid()
    called = []
    gone, alive = tps.wait_procs([proc], timeout=10, callback=called.append)
    assert alive == [] and gone == [proc] and called == [proc]
    assert proc.returncode == 7
    usage = proc.exit_usage()
    assert usage is not None and usage.cpu_times.user + usage.cpu_times.system > 0
    assert usage.peak_rss > 1 << 20


def test_wait_procs_on_a_killed_non_child_gives_the_negative_signal(via_agent):
    pid = spawn_grandchild("import time; time.sleep(30)")
    proc = tps.Process(pid)
    threading.Timer(0.2, os.kill, (pid, signal.SIGKILL)).start()
    gone, alive = tps.wait_procs([proc], timeout=10)
    assert gone == [proc] and proc.returncode == -signal.SIGKILL


def test_wait_procs_mixes_children_and_others_and_times_out(via_agent):
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    other = spawn_grandchild("import time; time.sleep(30)")
    procs = [tps.Process(child.pid), tps.Process(other)]
    gone, alive = tps.wait_procs(procs, timeout=1)
    assert [p.pid for p in gone] == [child.pid] and gone[0].returncode == 3
    assert [p.pid for p in alive] == [other]
    os.kill(other, signal.SIGTERM)
    gone, alive = tps.wait_procs(alive, timeout=10)
    assert gone[0].returncode == -signal.SIGTERM


def test_wait_procs_in_process_with_ebpf():
    """Without an agent, `tracer.start()` loads the kernel programs in-process (before the
    process-wide table is first used: a fresh interpreter)."""
    pid = spawn_grandchild("import time; time.sleep(0.5); raise SystemExit(9)")
    code = (
        "import tracer, tracer.psutil as t\n"
        "tracer.configure('direct')\n"
        f"print(tracer.start())\n"
        f"gone, alive = t.wait_procs([t.Process({pid})], timeout=10)\n"
        "print(gone[0].returncode, gone[0].exit_usage().peak_rss > 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["ebpf", "9", "True"], out.stderr


def test_events_see_a_process_that_lived_one_millisecond(via_agent):
    stream = tracer.events(kinds=["exec", "exit"])
    probe = subprocess.Popen(["/bin/sleep", "0.001"])
    probe.wait()
    seen = {}
    deadline = time.monotonic() + 10
    for event in stream:
        if event.pid == probe.pid:
            seen[event.event] = event
            if "exit" in seen:
                break
        assert time.monotonic() < deadline, "no exit event within 10 s"
    stream.close()
    assert seen["exec"].cmdline == ["/bin/sleep", "0.001"]
    assert seen["exit"].exit_code == 0 and seen["exit"].duration < 1.0


def test_exited_lists_what_ended(via_agent):
    proc = subprocess.Popen(["sh", "-c", "exit 5"])
    proc.wait()
    time.sleep(0.1)
    rows = [r for r in tracer.exited(pids=[proc.pid]) if r["pid"] == proc.pid]
    assert rows and rows[-1]["exit_code"] == 5 and rows[-1]["name"] == "sh"
    assert rows[-1]["cpu_times"] is not None


def test_events_need_the_agent():
    tracer.configure("direct")
    try:
        with pytest.raises(tracer.AgentError):
            tracer.events()
    finally:
        tracer.configure("auto")
