#!/usr/bin/env python3
"""Exec storm for ``cargo xtask bench``: ``posix_spawn`` + ``waitpid`` of ``/bin/true`` in a loop.

Usage: storm.py SECONDS START OUT

Sleeps until START (seconds since the epoch, so that parallel spawners begin together), spawns
and reaps ``/bin/true`` one at a time for SECONDS, then writes one JSON object to OUT:
``{"count": N, "failed": F, "elapsed": S, "pids": [...]}`` with every pid it spawned, in order
(a pid may repeat when the kernel's pid space wraps during the storm).
"""

import json
import os
import sys
import time


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: storm.py SECONDS START OUT")
    seconds, start_at, out = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)

    path, argv, env = "/bin/true", ["/bin/true"], dict(os.environ)
    spawn, waitpid, now = os.posix_spawn, os.waitpid, time.monotonic
    pids, failed = [], 0
    start = now()
    deadline = start + seconds
    while now() < deadline:
        pid = spawn(path, argv, env)
        _, status = waitpid(pid, 0)
        if status != 0:
            failed += 1
        pids.append(pid)
    elapsed = now() - start

    with open(out, "w", encoding="ascii") as file:
        json.dump({"count": len(pids), "failed": failed, "elapsed": elapsed, "pids": pids}, file)


if __name__ == "__main__":
    main()
