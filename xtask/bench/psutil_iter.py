#!/usr/bin/env python3
"""Times one ``list(psutil.process_iter(ATTRS))`` for ``cargo xtask bench``.

Usage: psutil_iter.py ATTR[,ATTR...]

Prints one JSON object: ``{"seconds": S, "count": N, "psutil": VERSION}``, where S is the
iteration alone (``time.perf_counter``), without the interpreter's start-up or psutil's import.
``process_iter`` caches Process objects across calls; its cache is cleared first so that the pass
is a fresh one, as it is anyway in a new interpreter.
"""

import json
import sys
import time

import psutil


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: psutil_iter.py ATTR[,ATTR...]")
    attrs = sys.argv[1].split(",")
    cache_clear = getattr(psutil.process_iter, "cache_clear", None)
    if cache_clear is not None:
        cache_clear()
    start = time.perf_counter()
    procs = list(psutil.process_iter(attrs))
    seconds = time.perf_counter() - start
    json.dump({"seconds": seconds, "count": len(procs), "psutil": psutil.__version__}, sys.stdout)


if __name__ == "__main__":
    main()
