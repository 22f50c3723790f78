#!/usr/bin/env python3
"""Target of ``cargo xtask bench``'s ``wait`` latency: exits at a recorded moment.

Usage: exit_stamp.py SECONDS OUT

Opens OUT, sleeps SECONDS (time for a ``tracer wait`` to start waiting on this process), then
reads CLOCK_MONOTONIC (``time.monotonic_ns()``), writes it to OUT as decimal nanoseconds and
exits at once with ``os._exit(0)``: the stamp is the last thing before the exit.
"""

import os
import sys
import time


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: exit_stamp.py SECONDS OUT")
    seconds, out = float(sys.argv[1]), sys.argv[2]
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    time.sleep(seconds)
    stamp = time.monotonic_ns()
    os.write(fd, b"%d" % stamp)
    os._exit(0)


if __name__ == "__main__":
    main()
