#!/usr/bin/env python3
"""Prints one JSON array: psutil's ``Process.as_dict(ATTRS)`` for every live process.

Usage: psutil_snapshot.py ATTR[,ATTR...]

The reference side of the differential test in ``tests/ps.rs``. Named tuples (memory_info,
cpu_times, uids, gids) become objects via ``_asdict()``; an attribute psutil cannot read is
``null`` (``as_dict``'s ``ad_value``); a process that ends while it is read is left out, as
``psutil.process_iter`` does. ``json.dumps`` with its defaults writes a byte that is not
UTF-8 (decoded by Python as a lone surrogate, ``surrogateescape``) as ``\\udcXX``.
"""

import json
import sys

import psutil


def plain(value):
    """Named tuples as objects; everything else as is."""
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: psutil_snapshot.py ATTR[,ATTR...]")
    attrs = [attr for attr in sys.argv[1].split(",") if attr]
    rows = []
    for pid in psutil.pids():
        try:
            info = psutil.Process(pid).as_dict(attrs)
        except psutil.NoSuchProcess:
            continue
        rows.append({attr: plain(info[attr]) for attr in attrs})
    sys.stdout.write(json.dumps(rows))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
