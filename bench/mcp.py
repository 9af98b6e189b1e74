"""The context & RAG service with a 10,000-piece corpus.

Prints (and saves in bench/results/mcp.json):
- index build time for the corpus from nothing (every piece embedded), the
  cold start to READY (model load, facts) and to the folder indexed (the
  background build);
- restart time with the saved index (start to READY, and the index part);
- POST /api/mcp/augment latency p50/p99 at that size, and /api/mcp/verify's.
Target on this 2-core CPU: augment p50 < 30 ms with 10,000 pieces.

    .venv/bin/python -m bench.mcp [--pieces 10000] [--requests 300] [--reuse DIR] [--baseline REV]

--baseline REV (a git revision, e.g. main) first builds the same folder from
nothing with the code at REV (its backend/ from `git archive`, first on
PYTHONPATH), measures its augment latency, then does the same with this
tree: the cold pieces/s of both, and their ratio, from one run on one
folder (issue #16's "today" is dc17020^1: float32 on one thread). A run of
fewer than 10,000 pieces saves bench/results/mcp-N.json,
leaving the 10,000-piece figures of mcp.json alone.

Building 10,000 pieces takes minutes on 2 cores. --reuse DIR (the folder a
previous run printed) skips it: it restarts on that run's saved index,
measures again, and keeps the build figures of bench/results/mcp.json.
BENCH_LOG_LEVEL=INFO keeps the service's request log (server-side ms per
request) in that folder's mcp.log.

The corpus is generated: documents of 20 paragraphs of 350-550 characters,
each paragraph one piece (two do not fit in the default 600-character piece).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import requests

from bench._common import PYTHON, RESULTS, ROOT, free_port, percentile, save

PARAGRAPHS_PER_DOCUMENT = 20
SUBJECTS = ["El servicio de chat", "La cooperativa", "El equipo de soporte", "El volcán", "La biblioteca",
            "El portal interno", "La red eléctrica", "The backup job", "The support team", "The river basin",
            "La plantilla", "El laboratorio", "The data centre", "El ayuntamiento", "The research group"]
VERBS = ["revisa", "publica", "mantiene", "mide", "actualiza", "archives", "monitors", "stores", "analiza",
         "organiza", "reports", "documenta", "calibrates", "coordina", "schedules"]
OBJECTS = ["los informes trimestrales", "las copias de seguridad", "los sensores de temperatura",
           "the incident reports", "los contratos de los proveedores", "the water quality samples",
           "las solicitudes de vacaciones", "the power consumption", "los registros de acceso",
           "the translation memory", "las rutas de reparto", "the seismic readings", "los presupuestos"]
PLACES = ["en Valencia", "en Madrid", "in Tenerife", "en la sede central", "in the north wing",
          "en el segundo piso", "at the harbour", "en la planta de Bilbao", "in the cloud region", "en Sevilla"]
WHEN = ["cada lunes", "every night at 03:00", "una vez al mes", "before each release", "durante el verano",
        "every quarter", "los viernes por la tarde", "after every incident", "cada dos semanas"]


def sentence(rng: random.Random) -> str:
    return (f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(PLACES)} "
            f"{rng.choice(WHEN)}, con el código {rng.randint(100, 99999)}.")


def paragraph(rng: random.Random) -> str:
    text = ""
    target = rng.randint(350, 550)
    while len(text) < target:
        text += (" " if text else "") + sentence(rng)
    return text[:550].rsplit(" ", 1)[0] + "."


def write_corpus(folder: Path, pieces: int, seed: int = 6) -> list[str]:
    """The documents, and some of their paragraphs (to ask about)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for number in range(pieces // PARAGRAPHS_PER_DOCUMENT):
        paragraphs = [paragraph(rng) for _ in range(PARAGRAPHS_PER_DOCUMENT)]
        samples.append(rng.choice(paragraphs))
        (folder / f"doc-{number:05d}.md").write_text(
            f"# Documento {number}\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return samples


def questions(samples: list[str], count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    unrelated = ["Explain quantum entanglement", "¿Qué es la fotosíntesis?", "Recommend me a good book",
                 "¿Qué día es hoy?", "Escribe un poema sobre el mar", "¿Cuál es la capital de Australia?"]
    asked = []
    for _ in range(count):
        if rng.random() < 0.25:
            asked.append(rng.choice(unrelated))
        else:  # a question built from the first words of a paragraph
            words = rng.choice(samples).split()[:9]
            asked.append("¿Quién " + " ".join(words[2:]) + "?")
    return asked


def start(env: dict, port: int, log: Path) -> tuple[subprocess.Popen, float, float, dict]:
    """Start the service; return it, seconds to READY (/health 200), seconds until the folder
    is indexed (the background build done) and its index check then."""
    started = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "-m", "capibara6", "serve", "mcp", "--port", str(port),
                             "--log-level", os.environ.get("BENCH_LOG_LEVEL", "WARNING")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
    url = f"http://127.0.0.1:{port}/health"
    ready_s = None
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"mcp exited with {proc.returncode}; see {log}")
        try:
            reply = requests.get(url, timeout=5)
            if reply.status_code == 200:
                ready_s = ready_s or time.perf_counter() - started
                index = reply.json()["checks"]["index"]
                if index["builds"] and not index["reindexing"]:
                    return proc, ready_s, time.perf_counter() - started, index
        except requests.ConnectionError:
            pass
        time.sleep(0.1)


def code_at(revision: str, into: Path) -> Path:
    """backend/ as it is at a git revision, unpacked into a folder: a PYTHONPATH entry."""
    archive = subprocess.run(["git", "archive", "--format=tar", revision, "backend"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "backend"


def cold_build(env: dict, port: int, log: Path, label: str) -> tuple[subprocess.Popen, float, float, dict, list]:
    """start() on an empty state directory, printing the build's pieces/s; the load average
    (1 min) at its start and end goes with it: the cores are shared."""
    load = [round(os.getloadavg()[0], 2)]
    proc, ready_s, indexed_s, index = start(env, port, log)
    load.append(round(os.getloadavg()[0], 2))
    print(f"{label} cold start: READY after {ready_s:.1f}s, indexed after {indexed_s:.1f}s; index build "
          f"{index['last_build_s']:.1f}s for {index['pieces']} pieces "
          f"({index['pieces'] / index['last_build_s']:.1f} pieces/s; load average {load[0]} -> {load[1]})")
    return proc, ready_s, indexed_s, index, load


def latency_figures(times: list[float]) -> dict:
    # min: what a request costs when nothing else wants the cores.
    return {"p50": round(percentile(times, 50), 1), "p99": round(percentile(times, 99), 1),
            "min": round(min(times), 1), "requests": len(times)}


def baseline(revision: str, work: Path, env: dict, asked: list[str]) -> dict:
    """The code at revision: cold build of work/docs into its own state directory, then augment latency."""
    tree = code_at(revision, work / f"baseline-{revision}")
    env = {**env, "CAPIBARA6_STATE_DIR": str(work / "state-baseline"),
           "PYTHONPATH": os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])}
    port = free_port()
    proc, _, _, index, load = cold_build(env, port, work / "mcp-baseline.log", f"baseline ({revision})")
    try:
        augment = latencies(f"http://127.0.0.1:{port}/api/mcp", "/augment", "prompt", asked)
    finally:
        stop(proc)
    figures = {"revision": revision,
               "commit": subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, text=True,
                                        capture_output=True, check=True).stdout.strip(),
               "index_build_s": index["last_build_s"],
               "pieces_per_s_cold": round(index["pieces"] / index["last_build_s"], 1),
               "load_average_1min_build": load, "augment_ms": latency_figures(augment),
               "device": index.get("device"), "precision": index.get("precision", "float32")}
    print(f"baseline ({revision}) augment: p50 {figures['augment_ms']['p50']} ms, min {figures['augment_ms']['min']} ms")
    return figures


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)


def latencies(url: str, path: str, field: str, texts: list[str]) -> list[float]:
    session = requests.Session()
    for text in texts[:10]:  # warm-up
        session.post(url + path, json={field: text}, timeout=30).raise_for_status()
    times = []
    for text in texts:
        started = time.perf_counter()
        session.post(url + path, json={field: text}, timeout=30).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pieces", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--reuse", type=Path, help="a previous run's folder: skip the cold build")
    parser.add_argument("--baseline", metavar="REV",
                        help="first build the same folder with the code at this git revision, and compare")
    args = parser.parse_args()
    if args.reuse and args.baseline:
        parser.error("--baseline measures cold builds: it does not go with --reuse")

    work = args.reuse or Path(tempfile.mkdtemp(prefix="capibara6-bench-mcp-"))
    if args.reuse:
        samples = write_corpus(work / "bench-samples", args.pieces)  # the same seed: the same texts
    else:
        samples = write_corpus(work / "docs", args.pieces)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPIBARA6_")}
    env.update({"CAPIBARA6_MCP_DOCS_DIR": str(work / "docs"), "CAPIBARA6_STATE_DIR": str(work / "state")})
    port, log = free_port(), work / "mcp.log"
    print(f"corpus: {len(samples)} documents in {work / 'docs'}; log {log}")
    asked = questions(samples, args.requests)
    before = baseline(args.baseline, work, env, asked) if args.baseline else None

    if args.reuse:
        previous = json.loads((RESULTS / "mcp.json").read_text())
        cold_s, cold_indexed_s = previous["cold_start_to_ready_s"], previous.get("cold_start_to_indexed_s")
        index = {
            "pieces": previous["pieces"], "documents": previous["documents"],
            "last_build_s": previous["index_build_s"]}
        build_load = previous.get("load_average_1min_build")
        print(f"cold start (from the previous run): index build {index['last_build_s']:.1f}s")
    else:
        proc, cold_s, cold_indexed_s, index, build_load = cold_build(env, port, log, "this tree")
        stop(proc)
    proc, restart_s, _, restarted = start(env, port, log)
    print(f"restart with the saved index: READY after {restart_s:.1f}s "
          f"(index part {restarted['last_build_s']:.2f}s, the rest is loading torch and the model)")

    url = f"http://127.0.0.1:{port}/api/mcp"
    # The cores are shared: a busy neighbour slows every forward pass, so the load goes with the figures.
    load_before = os.getloadavg()[0]
    augment = latencies(url, "/augment", "prompt", asked)
    verify = latencies(url, "/verify", "claim", asked[: max(50, args.requests // 3)])
    augmented = sum(requests.post(url + "/augment", json={"prompt": q}, timeout=30).json()["needs_context"]
                    for q in asked[:50])
    stop(proc)
    figures = {
        "pieces": restarted["pieces"],
        "documents": index["documents"],
        "index_build_s": index["last_build_s"],
        "cold_start_to_ready_s": round(cold_s, 2),
        # The folder is indexed after READY, in the background (the latencies below are measured after it).
        "cold_start_to_indexed_s": round(cold_indexed_s, 2) if cold_indexed_s is not None else None,
        "pieces_per_s_cold": round(index["pieces"] / index["last_build_s"], 1),
        "load_average_1min_build": build_load,
        "device": restarted.get("device"),
        "precision": restarted.get("precision"),
        "restart_to_ready_s": round(restart_s, 2),
        "restart_index_s": restarted["last_build_s"],
        "augment_ms": latency_figures(augment),
        "verify_ms": latency_figures(verify),
        "augmented_share_of_first_50": augmented / 50,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "target": "augment p50 < 30 ms at 10,000 pieces",
    }
    if before is not None:
        figures["baseline"] = before
        figures["cold_speedup"] = round(figures["pieces_per_s_cold"] / before["pieces_per_s_cold"], 2)
    print(f"augment: p50 {figures['augment_ms']['p50']} ms, p99 {figures['augment_ms']['p99']} ms, "
          f"min {figures['augment_ms']['min']} ms ({len(augment)} requests; target p50 < 30 ms)")
    print(f"verify:  p50 {figures['verify_ms']['p50']} ms, p99 {figures['verify_ms']['p99']} ms")
    print(f"load average (1 min) before/after the latency runs: {figures['load_average_1min']} on "
          f"{os.cpu_count()} cores")
    if before is not None:
        print(f"cold index: {figures['pieces_per_s_cold']} pieces/s against {before['pieces_per_s_cold']} "
              f"with {args.baseline}: {figures['cold_speedup']}x")
    save("mcp" if args.pieces == 10_000 else f"mcp-{args.pieces}", figures)


if __name__ == "__main__":
    main()
