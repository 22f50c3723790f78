"""psutil's own tests as an outside judge: tests/test_contracts.py and tests/test_process_all.py
from the sdist of the installed psutil, run against tracer.psutil through the shim in
psutil_judge/shim.py, through the agent and in-process. The outcome is printed (README records
it); this fails when any of psutil's tests fails or errs, or when fewer run than README says."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile

import psutil
import pytest

# README's figure: all of them pass (real psutil itself fails one here: README says why).
EXPECTED_PASSED = 42
SUITES = ["tests/test_contracts.py", "tests/test_process_all.py"]


@pytest.fixture(scope="module")
def judge(tmp_path_factory):
    cache = pathlib.Path(os.environ.get("TRACER_PSUTIL_SDIST", tmp_path_factory.mktemp("sdist")))
    cache.mkdir(parents=True, exist_ok=True)
    name = f"psutil-{psutil.__version__}"
    archive = cache / f"{name}.tar.gz"
    if not archive.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:",
             "--no-deps", f"psutil=={psutil.__version__}", "-d", str(cache)],
            check=True,
        )
    root = tmp_path_factory.mktemp("judge")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(f"{name}/tests/")]
        tar.extractall(root, members=members)
    # psutil's tests/ package alone (not its source tree, which would shadow the installed
    # psutil), with the shim beside it.
    shutil.move(str(root / name / "tests"), str(root / "tests"))
    shutil.copy(pathlib.Path(__file__).parent / "psutil_judge" / "shim.py", root / "conftest.py")
    return root


@pytest.mark.parametrize("via", ["agent", "direct"])
def test_psutils_own_suite_against_tracer(judge, via, request):
    socket = request.getfixturevalue("agent_socket") if via == "agent" else "/nonexistent"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-rfE",
         "-q", *SUITES],
        cwd=judge, capture_output=True, text=True, timeout=900,
        env={**os.environ, "TRACER_SOCKET": socket, "TRACER_JUDGE_MODE": via},
    )
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr
    print("\n".join(l for l in out.stdout.splitlines() if l.startswith(("FAILED", "ERROR"))))
    print("psutil's suite against tracer.psutil:", summary)
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", summary)) else 0
    assert "error" not in summary and "failed" not in summary, out.stdout[-3000:]
    assert passed >= EXPECTED_PASSED, out.stdout[-3000:]
