"""Helpers shared by the benchmarks: processes on free ports, percentiles, results.

The benchmarks run as modules from the repository's root (`python -m bench.<name>`,
as the Makefile does), so they import what the tests also use as packages:
tests/processes.py (free ports, services as real processes) and tests/fakes/
(the fake Ollama), with no sys.path edits. Fakes stay out of the product package.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.processes import ROOT, free_port

__all__ = ["PYTHON", "RESULTS", "ROOT", "free_port", "percentile", "save", "start"]
RESULTS = ROOT / "bench" / "results"


def start(command: list[str], url: str, env: dict | None = None, wait: float = 60) -> subprocess.Popen:
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{command} did not answer at {url}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def save(name: str, figures: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    figures = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    print(f"saved {path.relative_to(ROOT)}")
    return path


PYTHON = sys.executable
