#!/usr/bin/env python3
"""Prints one JSON object: psutil's system-wide functions, keyed as ``tracer sys --json all``.

Usage: psutil_system.py

The reference side of the differential test in ``tests/sys.rs``. Keys are psutil's function
names; a variant of a function with a non-default argument carries a suffix, as tracer's does:
``cpu_count_cores`` is ``cpu_count(logical=False)``, ``cpu_times_percpu`` is
``cpu_times(percpu=True)``, ``disk_io_counters_perdisk``, ``net_io_counters_pernic``,
``cpu_percent_percpu``, ``cpu_freq_percpu``. ``disk_usage`` maps the mountpoint of each of
``disk_partitions()`` to its usage; ``net_connections`` is ``net_connections("inet")``.

Values are shaped the way tracer writes them: named tuples as objects (``_asdict()``),
other tuples and lists as arrays, enums (address family, socket type, duplex) as their
integer values, ``None`` as ``null``. ``json.dumps`` writes a byte that is not UTF-8 (a lone
surrogate after ``surrogateescape``) as ``\\udcXX``, as tracer does.
"""

import enum
import json
import sys

import psutil


def plain(value):
    """Named tuples as objects, enums as ints, other tuples as lists, dicts recursively."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def main():
    if len(sys.argv) != 1:
        sys.exit("usage: psutil_system.py")
    partitions = psutil.disk_partitions()
    usage = {}
    for part in partitions:
        if part.mountpoint not in usage:
            usage[part.mountpoint] = psutil.disk_usage(part.mountpoint)
    report = {
        "cpu_count": psutil.cpu_count(),
        "cpu_count_cores": psutil.cpu_count(logical=False),
        "cpu_percent": psutil.cpu_percent(),
        "cpu_percent_percpu": psutil.cpu_percent(percpu=True),
        "cpu_times_percent": psutil.cpu_times_percent(),
        "cpu_times": psutil.cpu_times(),
        "cpu_times_percpu": psutil.cpu_times(percpu=True),
        "cpu_stats": psutil.cpu_stats(),
        "cpu_freq": psutil.cpu_freq(),
        "cpu_freq_percpu": psutil.cpu_freq(percpu=True),
        "getloadavg": psutil.getloadavg(),
        "virtual_memory": psutil.virtual_memory(),
        "swap_memory": psutil.swap_memory(),
        "disk_partitions": partitions,
        "disk_usage": usage,
        "disk_io_counters": psutil.disk_io_counters(),
        "disk_io_counters_perdisk": psutil.disk_io_counters(perdisk=True),
        "net_io_counters": psutil.net_io_counters(),
        "net_io_counters_pernic": psutil.net_io_counters(pernic=True),
        "net_if_addrs": psutil.net_if_addrs(),
        "net_if_stats": psutil.net_if_stats(),
        "net_connections": psutil.net_connections("inet"),
        "sensors_temperatures": psutil.sensors_temperatures(),
        "sensors_fans": psutil.sensors_fans(),
        "sensors_battery": psutil.sensors_battery(),
        "boot_time": psutil.boot_time(),
        "users": psutil.users(),
    }
    sys.stdout.write(json.dumps(plain(report)))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
