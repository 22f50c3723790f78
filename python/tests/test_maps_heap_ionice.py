"""memory_maps, heap_info/heap_trim and the ionice setter, judged by real psutil on the same
processes: what tracer.psutil returns (or sets) is what psutil reads back."""

import os
import subprocess
import sys
import time

import psutil
import pytest

import tracer.psutil as tps

NUMERIC = ("rss", "size", "pss", "shared_clean", "shared_dirty", "private_clean",
           "private_dirty", "referenced", "anonymous", "swap")


def settled(pid):
    """Waits (at most 10 s) until the process's mappings stop changing: on a loaded host the
    sleeper may still be starting (imports map files) when the fixture hands it over."""
    deadline = time.monotonic() + 10
    last = None
    while time.monotonic() < deadline:
        now = [(m.addr, m.rss) for m in psutil.Process(pid).memory_maps(grouped=False)]
        if now == last:
            return
        last = now
        time.sleep(0.2)


def test_memory_maps_match_psutil(mode, sleeper):
    settled(sleeper.pid)
    for pid in (sleeper.pid, os.getpid()):
        ours = tps.Process(pid).memory_maps(grouped=False)
        theirs = psutil.Process(pid).memory_maps(grouped=False)
        assert ours and type(ours[0]) is type(theirs[0])
        if pid == sleeper.pid:
            # A sleeping process's mappings stay put: the same rows, the same figures.
            assert [(m.addr, m.perms, m.path) for m in ours] == [
                (m.addr, m.perms, m.path) for m in theirs]
            for a, b in zip(ours, theirs):
                for f in NUMERIC:
                    assert abs(getattr(a, f) - getattr(b, f)) <= 64 * 4096, (a, b, f)
        grouped = tps.Process(pid).memory_maps()
        expected = psutil.Process(pid).memory_maps()
        assert type(grouped[0]) is type(expected[0])
        assert grouped[0]._fields == expected[0]._fields
        if pid == sleeper.pid:
            assert [m.path for m in grouped] == [m.path for m in expected]
            assert "[stack]" in {m.path for m in grouped}
            total = sum(m.rss for m in grouped)
            assert abs(total - sum(m.rss for m in expected)) <= 64 * 4096
            assert abs(total - sum(m.rss for m in ours)) <= 64 * 4096
    assert "memory_maps" in tps.Process().as_dict()


def test_memory_maps_of_a_zombie_and_of_the_gone(mode):
    zombie = subprocess.Popen(["true"])
    time.sleep(0.3)  # exited, not reaped
    try:
        with pytest.raises(psutil.ZombieProcess):
            psutil.Process(zombie.pid).memory_maps()
        with pytest.raises(psutil.ZombieProcess):
            tps.Process(zombie.pid).memory_maps()
    finally:
        zombie.wait()
    child = subprocess.Popen(["sleep", "5"])
    p = tps.Process(child.pid)
    child.kill()
    child.wait()
    with pytest.raises(psutil.NoSuchProcess):
        p.memory_maps()


def test_heap_info_is_this_process_allocator(mode):
    assert tps.heap_info()._fields == psutil.heap_info()._fields
    assert type(tps.heap_info()) is type(psutil.heap_info())
    before = tps.heap_info()
    block = bytearray(64 << 20)  # above glibc's mmap threshold: an mmap'd block
    during, theirs = tps.heap_info(), psutil.heap_info()
    assert during.mmap_used - before.mmap_used >= 64 << 20
    assert during.mmap_used == theirs.mmap_used  # the same allocator, read the same way
    assert abs(during.heap_used - theirs.heap_used) <= 1 << 20
    del block
    assert tps.heap_info().mmap_used < during.mmap_used
    assert tps.heap_trim() is None


def test_ionice_setter_as_psutil_reads_it(mode, sleeper):
    ours, theirs = tps.Process(sleeper.pid), psutil.Process(sleeper.pid)
    ours.ionice(tps.IOPRIO_CLASS_IDLE)
    assert tuple(theirs.ionice()) == (psutil.IOPRIO_CLASS_IDLE, 0)
    ours.ionice(tps.IOPRIO_CLASS_BE, value=7)
    assert tuple(theirs.ionice()) == (psutil.IOPRIO_CLASS_BE, 7)
    assert ours.ionice() == theirs.ionice()
    ours.ionice(tps.IOPRIO_CLASS_RT, 3)  # root here
    assert tuple(theirs.ionice()) == (psutil.IOPRIO_CLASS_RT, 3)
    ours.ionice(tps.IOPRIO_CLASS_NONE)
    assert theirs.ionice()[0] == psutil.IOPRIO_CLASS_NONE


def test_ionice_setter_errors_are_psutils(mode, sleeper):
    p = tps.Process(sleeper.pid)
    before = psutil.Process(sleeper.pid).ionice()
    for args, message in [
        ((tps.IOPRIO_CLASS_NONE, 1), "ioclass accepts no value"),
        ((tps.IOPRIO_CLASS_IDLE, 7), "ioclass accepts no value"),
        ((tps.IOPRIO_CLASS_BE, 8), "value not in 0-7 range"),
        ((tps.IOPRIO_CLASS_BE, -1), "value not in 0-7 range"),
        ((None, 1), "'ioclass' argument must be specified"),
    ]:
        with pytest.raises(ValueError, match=message):
            p.ionice(*args)
        with pytest.raises(ValueError, match=message):
            psutil.Process(sleeper.pid).ionice(*args)
    # A class the kernel does not know: its EINVAL, as psutil's OSError.
    with pytest.raises(OSError) as e:
        p.ionice(9)
    assert not isinstance(e.value, psutil.Error)
    assert psutil.Process(sleeper.pid).ionice() == before  # nothing changed
    child = subprocess.Popen(["sleep", "5"])
    gone = tps.Process(child.pid)
    child.kill()
    child.wait()
    with pytest.raises(psutil.NoSuchProcess):
        gone.ionice(tps.IOPRIO_CLASS_IDLE)
    # Another user's process: the kernel's EPERM is psutil's AccessDenied, with the pid.
    code = (
        "import os, psutil, tracer.psutil as t; os.setuid(65534)\n"
        f"p = t.Process({sleeper.pid})\n"
        "try:\n p.ionice(t.IOPRIO_CLASS_IDLE)\nexcept psutil.AccessDenied as e:\n"
        " print('denied', e.pid)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={
        **os.environ, "TRACER_SOCKET": "/nonexistent"})
    assert out.stdout.strip() == f"denied {sleeper.pid}", out.stderr
    assert psutil.Process(sleeper.pid).ionice() == before
