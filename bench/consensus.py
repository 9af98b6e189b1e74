#!/usr/bin/env python3
"""Consensus latency: three models of different speeds, asked through the service,
against the slowest model asked alone. Target: at most 1.1 times the slowest.

Runs the real service (`python -m capibara6 serve consensus`, under waitress)
on the fake Ollama, whose models answer after fixed delays. Prints the
figures and saves them to bench/results/consensus.json.

    .venv/bin/python -m bench.consensus [--runs 10] [--delays 0.2,0.5,1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
import yaml

from tests.fakes.ollama_server import FakeModel, FakeOllama
from tests.processes import ROOT, ServiceProcess

RESULTS = ROOT / "bench" / "results" / "consensus.json"
TARGET_RATIO = 1.1


def timed(session: requests.Session, url: str, body: dict, runs: int) -> list[float]:
    """Seconds per request; each must succeed."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        reply = session.post(url, json=body, timeout=60)
        seconds.append(time.perf_counter() - started)
        if reply.status_code != 200:
            raise SystemExit(f"{url} answered {reply.status_code}: {reply.text[:300]}")
    return seconds


def summary(seconds: list[float]) -> dict:
    return {"median_ms": round(statistics.median(seconds) * 1000, 1),
            "min_ms": round(min(seconds) * 1000, 1), "max_ms": round(max(seconds) * 1000, 1),
            "runs": len(seconds)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--delays", default="0.2,0.5,1.0",
                        help="each model's answer delay in seconds, comma separated")
    args = parser.parse_args(argv)
    delays = [float(d) for d in args.delays.split(",")]
    names = [f"model-{index}" for index in range(1, len(delays) + 1)]
    slowest = names[delays.index(max(delays))]
    fastest = names[delays.index(min(delays))]
    models = [FakeModel(name, reply=f"Respuesta {index % 2}", first_token_delay=delay)
              for index, (name, delay) in enumerate(zip(names, delays))]
    prompt = "¿Cuál es la capital de Francia?"

    with FakeOllama(models) as fake, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config = {"defaults": {"method": "vote", "aggregator": fastest, "max_tokens": 64},
                  "models": [{"name": n, "timeout": 30} for n in names],
                  "templates": {"general": {"system_prompt": "Responde breve."}}}
        config_path = workdir / "consensus.yaml"
        config_path.write_text(yaml.safe_dump(config))
        service = ServiceProcess("consensus", {"OLLAMA_URL": fake.url,
                                               "CAPIBARA6_CONSENSUS_CONFIG": str(config_path)},
                                 workdir, args=["--log-level", "WARNING"]).start()
        url = service.url
        try:
            session = requests.Session()
            direct = {"model": slowest, "stream": False, "options": {"num_predict": 64},
                      "messages": [{"role": "system", "content": "Responde breve."},
                                   {"role": "user", "content": prompt}]}
            # Warm both paths (imports, connections) before measuring.
            timed(session, f"{fake.url}/api/chat", direct, 2)
            timed(session, f"{url}/api/consensus/query", {"prompt": prompt}, 2)

            alone = timed(session, f"{fake.url}/api/chat", direct, args.runs)
            figures = {"slowest_model_alone": summary(alone)}
            for method in ("vote", "weighted", "first", "synthesis"):
                figures[method] = summary(timed(session, f"{url}/api/consensus/query",
                                                {"prompt": prompt, "method": method}, args.runs))
        finally:
            service.stop()

    base = figures["slowest_model_alone"]["median_ms"]
    for method in ("vote", "weighted", "first", "synthesis"):
        figures[method]["vs_slowest"] = round(figures[method]["median_ms"] / base, 3)
        figures[method]["added_ms"] = round(figures[method]["median_ms"] - base, 1)
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "models": dict(zip(names, delays)),
        "target": f"vote and weighted at most {TARGET_RATIO}x the slowest model alone",
        "figures": figures,
        "meets_target": all(figures[m]["vs_slowest"] <= TARGET_RATIO for m in ("vote", "weighted")),
        "notes": {"first": "returns at the fastest model's answer",
                  "synthesis": f"slowest answer, then the aggregator ({fastest}, {min(delays)} s)"},
    }

    print(f"models (answer delay, s): {', '.join(f'{n}={d:g}' for n, d in zip(names, delays))}; "
          f"{args.runs} runs each, medians")
    print(f"  {'slowest model alone':<22}{base:>9.1f} ms")
    for method in ("vote", "weighted", "first", "synthesis"):
        row = figures[method]
        print(f"  {'consensus ' + method:<22}{row['median_ms']:>9.1f} ms  "
              f"{row['vs_slowest']:>5.3f}x slowest  {row['added_ms']:>+7.1f} ms  "
              f"(min {row['min_ms']}, max {row['max_ms']})")
    print(f"target (vote, weighted <= {TARGET_RATIO}x): {'met' if result['meets_target'] else 'NOT met'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"saved {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
