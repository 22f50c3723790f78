"""The shim that runs psutil's own tests against tracer.psutil: `import psutil` resolves to
tracer.psutil, while psutil's private helper modules (psutil._common, psutil._pslinux, the C
extension …) that the tests import stay the real ones. Copied as conftest.py beside psutil's tests/ folder
(from the sdist of the installed psutil) by test_psutil_suite.py."""

import os
import sys

import psutil as _real  # the real one first: its private modules land in sys.modules

import tracer
import tracer.psutil as _ours

# "agent" (the agent at TRACER_SOCKET, an error when none listens) or "direct".
tracer.configure(os.environ.get("TRACER_JUDGE_MODE", "auto"))

for _name in dir(_real):
    # Private helpers the tests reach through the package (psutil._psplatform, …).
    if _name.startswith("_") and not _name.startswith("__") and not hasattr(_ours, _name):
        setattr(_ours, _name, getattr(_real, _name))
for _name in ("tests",):
    if hasattr(_real, _name):
        setattr(_ours, _name, getattr(_real, _name))
_ours.__file__ = _real.__file__
_ours.__path__ = _real.__path__  # `import psutil._common` finds the real submodules
sys.modules["psutil"] = _ours
