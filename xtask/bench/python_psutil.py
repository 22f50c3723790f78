"""`cargo xtask bench --only python`'s driver: tracer.psutil through the agent against psutil,
timed in this interpreter and as whole processes; wait_procs' latency from a non-child's exit
to its return. Prints one JSON line per subject and kind."""

import json
import os
import subprocess
import sys
import time

ATTRS = ["pid", "ppid", "name", "cmdline", "username", "create_time"]
reps = int(sys.argv[1])
python = sys.executable

import compileall  # noqa: E402
import importlib.util  # noqa: E402

# The package as `pip install ./python` leaves it: byte-compiled (maturin develop links the
# source folder, and a PYTHONDONTWRITEBYTECODE environment would make every whole-process run
# below compile tracer.psutil again, which psutil's installed package never does).
compileall.compile_dir(os.path.dirname(importlib.util.find_spec("tracer").origin), quiet=1)

import psutil  # noqa: E402

import tracer  # noqa: E402
import tracer.psutil as tps  # noqa: E402

tracer.configure("agent")
subjects = {"tracer.psutil via the agent": tps, "psutil": psutil}
TRACER = "tracer.psutil via the agent"
AGENT = os.environ.get("TRACER_BENCH_AGENT_PID")


def agent_cpu():
    """The agent's CPU time so far (every thread's, from schedstat: nanoseconds, not ticks)."""
    total = 0
    for task in os.listdir(f"/proc/{AGENT}/task") if AGENT else ():
        try:
            with open(f"/proc/{AGENT}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError):
            pass
    return total / 1e9


inpython = {name: [] for name in subjects}
# CPU per call, robust to a loaded host: this process's, plus the agent's for tracer (psutil's
# work is all in this process).
cpu = {name: [] for name in subjects}
counts = {name: 0 for name in subjects}
for module in subjects.values():  # warm-up: imports, caches, the agent's connection
    list(module.process_iter(ATTRS))
for rep in range(reps):
    order = list(subjects.items())
    if rep % 2:
        order.reverse()
    for name, module in order:
        served = agent_cpu() if name == TRACER else 0.0
        own = time.process_time()
        start = time.perf_counter()
        procs = list(module.process_iter(ATTRS))
        inpython[name].append(time.perf_counter() - start)
        used = time.process_time() - own
        if name == TRACER:
            used += agent_cpu() - served
        cpu[name].append(used)
        counts[name] = len(procs)
for name in subjects:
    print(json.dumps({"kind": "inpython", "subject": name, "seconds": inpython[name],
                      "processes": counts[name]}))
    print(json.dumps({"kind": "cpu", "subject": name, "seconds": cpu[name],
                      "processes": counts[name]}))

SCRIPT = {
    "tracer.psutil via the agent": "import tracer.psutil as p; print(len(list(p.process_iter({}))))",
    "psutil": "import psutil as p; print(len(list(p.process_iter({}))))",
    # The floor: the interpreter's own start-up, and the imports alone.
    "python -c pass": "pass",
    "python -c 'import psutil'": "import psutil",
    "python -c 'import tracer.psutil'": "import tracer.psutil",
}
whole = {name: [] for name in SCRIPT}
listed = {name: [] for name in SCRIPT}  # how many processes each whole run listed
for rep in range(reps * 3):
    order = list(SCRIPT.items())
    if rep % 2:
        order.reverse()
    for name, code in order:
        start = time.perf_counter()
        out = subprocess.run([python, "-c", code.format(ATTRS)], check=True,
                             capture_output=True, text=True)
        whole[name].append(time.perf_counter() - start)
        if out.stdout.strip():
            listed[name].append(int(out.stdout))
for name in SCRIPT:
    print(json.dumps({"kind": "process", "subject": name, "seconds": whole[name],
                      "processes": sorted(listed[name])[len(listed[name]) // 2]
                      if listed[name] else None}))

# wait_procs on a process that is not our child: from the exit stamp it writes to the return.
EXITER = (
    "import os, sys, time; time.sleep(0.3); "
    "open(sys.argv[1], 'w').write(repr(time.time())); os._exit(0)"
)


def waited(module, stamp):
    out = subprocess.run(
        ["sh", "-c", f"{python} -c \"{EXITER}\" {stamp} >/dev/null 2>&1 & echo $!"],
        capture_output=True, text=True, check=True,
    )
    proc = module.Process(int(out.stdout))
    gone, alive = module.wait_procs([proc], timeout=10)
    returned = time.time()
    assert gone and not alive
    with open(stamp) as f:
        return returned - float(f.read()), gone[0].returncode


latency = {name: [] for name in subjects}
codes = {name: None for name in subjects}
for rep in range(reps * 2):
    for name, module in subjects.items():
        stamp = f"/tmp/tracer-bench-exit-{os.getpid()}"
        seconds, codes[name] = waited(module, stamp)
        latency[name].append(seconds)
for name in subjects:
    print(json.dumps({"kind": "wait", "subject": name, "seconds": latency[name],
                      "returncode": codes[name]}))
