"""The chat gateway, a direct call and LiteLLM's proxy, side by side in one run.

All three talk to the same fake Ollama (tests/fakes/ollama_server.py) on loopback:
- direct: the fake's own POST /api/chat;
- gateway: the chat service's /api/chat and /api/chat/stream, and its OpenAI-compatible
  /v1/chat/completions (the API LiteLLM serves, so the like-for-like row);
- LiteLLM: its proxy's /chat/completions with `ollama_chat/<model>` pointed at the fake
  (litellm[proxy] pinned in bench/requirements-litellm.txt, installed by this script into
  its own environment, .cache/bench/litellm-venv; no database, no spend logs, no telemetry,
  the cost map read from the package instead of the network).

Measured, interleaved in rounds so that drift on a shared machine hits every system alike:
- non-stream latency (p50, p99) against a fake that answers at once;
- time to the first streamed token (the first chunk with text in it);
- wall time and errors of 16, 64 and 256 concurrent streams, each 8 tokens 50 ms apart
  (a second fake with --token-delay 0.05 and an 8-word reply: the fake sends one token a
  word), and the memory (VmRSS before, peak during) of the gateway and LiteLLM processes
  under the 256-stream load;
- beside them, a bare WSGI app under waitress with the gateway's options and threads that
  streams the same 8 tokens at the same pace (the "waitress floor" for streams), and the
  CPU time the client (this process), the serving process and the fake used in each run:
  on this 2-core machine they all share the same two cores.

Prints the table, saves bench/results/side_by_side.json and draws bench/results/
side_by_side.png (matplotlib, bench/requirements-bench.txt); --quick saves
side_by_side-quick.* instead. Never pass/fail: the targets are printed beside the figures.

    .venv/bin/python -m bench.side_by_side [--quick] [--requests 600] [--first-tokens 300]
                                           [--streams 16 64 256] [--repeats 3]

Where a gateway request's time goes: `python -m bench.chat_gateway --profile 2000`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench._common import PYTHON, RESULTS, ROOT, free_port, percentile, save, start
from capibara6.chat.settings import DEFAULT_THREADS as CHAT_DEFAULT_THREADS
from tests.processes import ServiceProcess

MODEL = "llama3.2:latest"
REPLY = "Los capibaras son los roedores más grandes del mundo y viven en grupos."
# Eight words: the fake streams one token a word (r"\s*\S+"), so eight tokens.
PACED_REPLY = "Los capibaras viven en grupos junto al agua."
TOKEN_DELAY = 0.05
MESSAGES = [{"role": "user", "content": "hola"}]
DIRECT = "direct (fake /api/chat)"
TARGETS = {"added_p50_ms": 1.5, "first_token_added_p50_ms": 2.0, "wall_ratio_256": 1.3, "errors_256": 0}

# The floor under the gateway: a WSGI app that does nothing (no Flask, no kit, no Ollama
# call) under waitress with the gateway's own options and threads. POST / answers a body of
# the gateway's reply's size: one more loopback HTTP exchange, the price of any extra hop.
# POST /stream answers the paced fake's stream as the gateway's SSE events (8 tokens,
# TOKEN_DELAY apart, then done), made here without asking anyone: what waitress alone
# costs under the concurrent load.
FLOOR = "waitress floor (bare WSGI app)"
FLOOR_STREAMS = "waitress floor (bare app, same pacing)"
WAITRESS_FLOOR_APP = """
import sys, time, waitress
from capibara6.chat.gateway import sse
from capibara6.kit.serve import waitress_options
body = b'{"response": "' + b"x" * 200 + b'"}'
words, delay = sys.argv[2].split(), float(sys.argv[3])
def events():
    for index, word in enumerate(words):
        if index:
            time.sleep(delay)
        yield sse({"content": word + " ", "done": False}).encode()
    yield sse({"content": "", "done": True}).encode()
def app(environ, start_response):
    environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        return events()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), _quiet=True,
               **waitress_options(threads=int(sys.argv[4])))
"""

LITELLM_REQUIREMENTS = ROOT / "bench" / "requirements-litellm.txt"
LITELLM_VENV = ROOT / ".cache" / "bench" / "litellm-venv"
LITELLM_STAMP = LITELLM_VENV / ".requirements-sha256"


def progress(text: str) -> None:
    print(f"progress: {text}", flush=True)


# --- LiteLLM in its own environment ------------------------------------------------------

def litellm_environment() -> Path:
    """The venv with the pinned litellm[proxy]; (re)installed only when the pins (or the
    Python it is built on) changed."""
    want = hashlib.sha256(LITELLM_REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()
    if LITELLM_STAMP.exists() and LITELLM_STAMP.read_text().strip() == want:
        return LITELLM_VENV / "bin" / "litellm"
    progress(f"installing {LITELLM_REQUIREMENTS.relative_to(ROOT)} into {LITELLM_VENV.relative_to(ROOT)} "
             "(once; a few minutes)")
    # --clear: a changed pin list gets a clean environment, not one with leftovers.
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(LITELLM_VENV)], check=True)
    subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(LITELLM_REQUIREMENTS)], check=True)
    LITELLM_STAMP.write_text(want + "\n")
    return LITELLM_VENV / "bin" / "litellm"


def litellm_config(fast_url: str, paced_url: str) -> str:
    """The proxy's config.yaml: one model name per fake, and the extras that need a
    database or the network (or cost time per request) switched off."""
    models = "".join(f"""
  - model_name: {name}
    litellm_params:
      model: ollama_chat/{MODEL}
      api_base: {url}
""" for name, url in (("bench-fast", fast_url), ("bench-paced", paced_url)))
    return f"""model_list:{models}
litellm_settings:
  telemetry: false
  drop_params: true
  request_timeout: 120
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  disable_spend_logs: true
  disable_error_logs: true
  disable_reset_budget: true
"""


def start_litellm(binary: Path, workdir: Path, fast_url: str, paced_url: str, master_key: str):
    config = workdir / "litellm.yaml"
    config.write_text(litellm_config(fast_url, paced_url))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "litellm.log"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "LITELLM_", "OPENAI_", "REDIS_", "OLLAMA_"))}
    env.update({
        "LITELLM_MASTER_KEY": master_key,
        # The model cost map from the installed package: no fetch at start.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "PYTHONUNBUFFERED": "1",
    })
    log = open(log_path, "wb")
    proc = subprocess.Popen([str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                             "--num_workers", "1"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    progress("waiting for LiteLLM's proxy to be ready (its start takes a while)")
    started = time.monotonic()
    next_note = started + 10
    while True:
        if proc.poll() is not None:
            log.close()
            raise SystemExit(f"LiteLLM's proxy exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/health/readiness", timeout=2,
                            headers={"Authorization": f"Bearer {master_key}"}).status_code == 200:
                break
        except (requests.ConnectionError, requests.Timeout):
            pass
        if time.monotonic() > started + 240:
            proc.kill()
            raise SystemExit(f"LiteLLM's proxy not ready after 240 s:\n{log_path.read_text()[-3000:]}")
        if time.monotonic() > next_note:
            progress(f"LiteLLM still starting ({time.monotonic() - started:.0f} s)")
            next_note += 10
        time.sleep(0.2)
    progress(f"LiteLLM ready after {time.monotonic() - started:.1f} s")
    return proc, url, log


# --- what one request looks like on each system ------------------------------------------

class System:
    """One way to ask for a chat: the request, and how to read its answer."""

    def __init__(self, name: str, url: str, body: dict, stream_url: str, stream_body: dict, kind: str,
                 headers: dict | None = None):
        self.name, self.url, self.body = name, url, body
        self.stream_url, self.stream_body, self.kind = stream_url, stream_body, kind
        self.headers = headers or {}

    def texts(self, reply: requests.Response):
        """The streamed texts in order; a dict with "error" for a failed stream."""
        for line in reply.iter_lines():
            if not line:
                continue
            if self.kind == "ndjson":
                event = json.loads(line)
                if "error" in event:
                    yield {"error": event["error"]}
                    return
                if event.get("done"):
                    yield None
                    return
                yield event["message"]["content"]
                continue
            if not line.startswith(b"data: "):
                continue
            data = line[6:]
            if data == b"[DONE]":
                yield None
                return
            event = json.loads(data)
            if "error" in event:
                yield {"error": event["error"]}
                return
            if self.kind == "sse":
                if event.get("done"):
                    yield None
                    return
                yield event["content"]
            else:  # OpenAI chunks; the done marker is [DONE]
                for choice in event.get("choices") or ():
                    yield (choice.get("delta") or {}).get("content") or ""


def one_post(session: requests.Session, system: System) -> float:
    started = time.perf_counter()
    reply = session.post(system.url, json=system.body, headers=system.headers, timeout=60)
    reply.raise_for_status()
    reply.content
    return (time.perf_counter() - started) * 1000


def one_first_token(session: requests.Session, system: System) -> float:
    started = time.perf_counter()
    first = None
    with session.post(system.stream_url, json=system.stream_body, headers=system.headers,
                      stream=True, timeout=60) as reply:
        reply.raise_for_status()
        for text in system.texts(reply):
            if isinstance(text, dict):
                raise RuntimeError(f"{system.name}: {text}")
            if text is None:
                break
            if text and first is None:
                first = (time.perf_counter() - started) * 1000
        for _ in reply.iter_content(8192):  # the rest, so the connection can be reused
            pass
    if first is None:
        raise RuntimeError(f"{system.name}: a stream without text")
    return first


def interleaved(systems: list[System], measure, count: int, rounds: int, label: str) -> dict[str, list[float]]:
    sessions = {s.name: requests.Session() for s in systems}
    for system in systems:  # warm: connections open, caches filled, lazy imports done
        for _ in range(20):
            measure(sessions[system.name], system)
    times: dict[str, list[float]] = {s.name: [] for s in systems}
    per_round = max(1, count // rounds)
    for index in range(rounds):
        for system in (systems if index % 2 == 0 else systems[::-1]):
            times[system.name] += [measure(sessions[system.name], system) for _ in range(per_round)]
        progress(f"{label}: round {index + 1}/{rounds} ({per_round} each)")
    return times


# --- concurrent streams ------------------------------------------------------------------

def memory_kb(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            fields[key] = int(value.split()[0])
    return fields


class MemoryWatch:
    """Samples a process's VmRSS every 20 ms while a load runs (VmHWM is since start)."""

    def __init__(self, pid: int | None):
        self.pid, self.peak, self.threads_peak = pid, 0, 0
        self._stop = threading.Event()

    def __enter__(self):
        if self.pid:
            self.before = memory_kb(self.pid)
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            now = memory_kb(self.pid)
            self.peak = max(self.peak, now["VmRSS"])
            self.threads_peak = max(self.threads_peak, now.get("Threads", 0))

    def __exit__(self, *exc):
        if self.pid:
            self._stop.set()
            self._thread.join()
            after = memory_kb(self.pid)
            self.figures = {"rss_before_kb": self.before["VmRSS"], "rss_peak_kb": max(self.peak, after["VmRSS"]),
                            "rss_after_kb": after["VmRSS"], "hwm_after_kb": after["VmHWM"],
                            "growth_kb": max(self.peak, after["VmRSS"]) - self.before["VmRSS"],
                            "threads_before": self.before.get("Threads"), "threads_peak": self.threads_peak}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (/proc/<pid>/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def concurrent_streams(system: System, count: int, processes: dict[str, int] | None = None) -> dict:
    """count streams at once; with processes ({name: pid}), the CPU time each of them and
    this client used while they ran (the machine has 2 cores for all of them).

    The wall time is from the first stream's start to the last one's end, each taken by its
    own thread: a time taken by the main thread once the barrier lets everyone go depends on
    when 257 threads hand it the GIL (measured: 0.44 s against 2.3 s for the same load)."""
    errors, completed, starts, ends = [], [], [], []
    barrier = threading.Barrier(count + 1)

    def one():
        try:
            barrier.wait(60)
            starts.append(time.perf_counter())
            with requests.post(system.stream_url, json=system.stream_body, headers=system.headers,
                               stream=True, timeout=120) as reply:
                if reply.status_code != 200:
                    errors.append(f"HTTP {reply.status_code} {reply.text[:120]}")
                    return
                texts, finished = [], False
                for text in system.texts(reply):
                    if isinstance(text, dict):
                        errors.append(f"in stream: {str(text['error'])[:120]}")
                        return
                    if text is None:
                        finished = True
                        break
                    texts.append(text)
                if not finished or "".join(texts).strip() != PACED_REPLY:
                    errors.append(f"incomplete: {''.join(texts)!r}")
                else:
                    completed.append(1)
        except Exception as exc:  # a refused or dropped connection is an error of the run, counted
            errors.append(repr(exc)[:160])
        finally:
            ends.append(time.perf_counter())

    threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    processes = {"client": os.getpid(), **(processes or {})}
    cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    barrier.wait(60)
    for thread in threads:
        thread.join()
    seconds = max(ends) - min(starts)
    cpu_after = {name: cpu_seconds(pid) for name, pid in processes.items()}
    distinct = sorted(set(errors), key=errors.index)
    return {"streams": count, "completed": len(completed), "errors": len(errors),
            "seconds": round(seconds, 3), "first_errors": distinct[:3],
            "cpu_s": {name: round(cpu_after[name] - cpu_before[name], 2) for name in cpu_before}}


# --- figures, table, plot ----------------------------------------------------------------

def summary(values: list[float]) -> dict:
    return {"p50_ms": round(percentile(values, 50), 3), "p99_ms": round(percentile(values, 99), 3),
            "mean_ms": round(statistics.fmean(values), 3), "count": len(values)}


def print_table(figures: dict) -> None:
    lat, first, load = figures["non_stream"], figures["first_token"], figures["concurrent_streams"]
    direct, direct_first = lat[DIRECT]["p50_ms"], first[DIRECT]["p50_ms"]
    print()
    print(f"{'':38} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'first token p50':>16} {'added':>8}")
    for name in lat:
        if name == FLOOR:
            continue
        row, top = lat[name], first.get(name)
        first_cells = (f"{top['p50_ms']:>16.2f} {top['p50_ms'] - direct_first:>+8.2f}" if top else "")
        print(f"{name:38} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['p50_ms'] - direct:>+10.2f} {first_cells}")
    print(f"{'targets (gateway)':38} {'':>8} {'':>8} {'< 1.5':>10} {'':>16} {'< 2':>8}")
    if FLOOR in lat:
        floor = lat[FLOOR]
        gateway = lat["gateway /api/chat (+ /stream)"]["p50_ms"]
        print(f"{FLOOR:38} {floor['p50_ms']:>8.2f} {floor['p99_ms']:>8.2f}   (one loopback exchange through "
              f"waitress, nothing else)")
        print(f"gateway p50 less direct less the floor: {gateway - direct - floor['p50_ms']:+.2f} ms "
              "(Flask, the kit, the gateway and the Ollama client's own work)")
    print()
    counts = sorted({run["streams"] for runs in load.values() for run in runs})
    print(f"{'concurrent streams (8 tokens, 50 ms)':38} " + " ".join(f"{n:>21}" for n in counts))
    for name, runs in load.items():
        cells = []
        for n in counts:
            run = next(r for r in runs if r["streams"] == n)
            base = next(r for r in load["direct"] if r["streams"] == n)["seconds"]
            cells.append(f"{run['seconds']:>6.2f} s {run['seconds'] / base:>4.2f}x {run['errors']:>3} err")
        print(f"{name:38} " + " ".join(f"{c:>21}" for c in cells))
    print(f"{'target (gateway, 256)':38} {'<= 1.3x direct, 0 errors':>21}")
    for name, mem in figures["memory_256"].items():
        print(f"memory of {name} under {max(counts)} streams: RSS {mem['rss_before_kb'] / 1024:.1f} MiB before, "
              f"peak {mem['rss_peak_kb'] / 1024:.1f} MiB (+{mem['growth_kb'] / 1024:.1f} MiB), "
              f"threads {mem['threads_before']} -> {mem['threads_peak']}")
    top, cores = max(counts), os.cpu_count()
    print(f"CPU seconds used during each median {top}-stream run ({cores} cores: {cores} x the wall time "
          "is all the machine has):")
    for name, runs in load.items():
        run = next(r for r in runs if r["streams"] == top)
        used = run.get("cpu_s", {})
        print(f"  {name:38} {run['seconds']:5.2f} s wall: "
              + ", ".join(f"{who} {seconds:.2f}" for who, seconds in used.items())
              + f"; {sum(used.values()):.2f} of {cores * run['seconds']:.2f}")
    print(f"load average before / after: {figures['loadavg']['before']} / {figures['loadavg']['after']}")
    print()


def plot(figures: dict, samples: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    for ax, key, title in ((axes[0], "non_stream", "non-stream chat latency"),
                           (axes[1], "first_token", "time to the first streamed token")):
        for name, values in samples[key].items():
            ordered = sorted(values)
            ax.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))],
                    label=f"{name} (p50 {percentile(values, 50):.1f} ms)")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("ms (log scale)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    ax = axes[2]
    for name, runs in figures["concurrent_streams"].items():
        xs = [r["streams"] for r in runs]
        ax.plot(xs, [r["seconds"] for r in runs], marker="o", label=name)
        for run in runs:
            if run["errors"]:
                ax.annotate(f"{run['errors']} err", (run["streams"], run["seconds"]), fontsize=8,
                            textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({r["streams"] for runs in figures["concurrent_streams"].values() for r in runs}))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_yscale("log")
    plain = matplotlib.ticker.FormatStrFormatter("%g")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("concurrent streams (8 tokens, 50 ms apart)")
    ax.set_ylabel("wall time, s (log scale)")
    ax.set_title("wall time of N concurrent streams")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(f"Capibara6 chat gateway, direct and LiteLLM {figures['litellm_version']} against the same "
                 f"fake Ollama ({figures['measured_at']}, load {figures['loadavg']['before']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"saved {path.relative_to(ROOT)}")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, one repeat (for development)")
    parser.add_argument("--requests", type=int, default=600, help="non-stream requests per system")
    parser.add_argument("--first-tokens", type=int, default=300, help="streams per system for the first token")
    parser.add_argument("--streams", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each concurrent load; the table shows the median run, the JSON all")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.first_tokens, args.repeats = 120, 60, 1
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SystemExit("matplotlib is missing: .venv/bin/pip install -r bench/requirements-bench.txt "
                         "(make bench does it)") from None

    litellm_binary = litellm_environment()
    litellm_version = subprocess.run([str(LITELLM_VENV / "bin" / "python"), "-c",
                                      "from importlib.metadata import version; print(version('litellm'))"],
                                     capture_output=True, text=True, check=True).stdout.strip()
    workdir = Path(tempfile.mkdtemp(prefix="bench-side-by-side-"))
    master_key = "sk-" + secrets.token_urlsafe(24)  # this run's only; never printed or saved
    processes, gateways, litellm_log = [], [], None
    try:
        fast_port, paced_port = free_port(), free_port()
        fast_url, paced_url = f"http://127.0.0.1:{fast_port}", f"http://127.0.0.1:{paced_port}"
        processes.append(start([PYTHON, "-m", "tests.fakes.ollama_server", "--port", str(fast_port),
                                "--reply", REPLY], f"{fast_url}/api/version"))
        paced_fake = start([PYTHON, "-m", "tests.fakes.ollama_server", "--port", str(paced_port),
                            "--reply", PACED_REPLY, "--token-delay", str(TOKEN_DELAY)], f"{paced_url}/api/version")
        processes.append(paced_fake)
        # One gateway per fake: the load's memory figures belong to a process that did only that.
        floor_port = free_port()
        floor_app = start([PYTHON, "-c", WAITRESS_FLOOR_APP, str(floor_port), PACED_REPLY, str(TOKEN_DELAY),
                           str(CHAT_DEFAULT_THREADS)], f"http://127.0.0.1:{floor_port}/")
        processes.append(floor_app)
        gateway = ServiceProcess("chat", {"OLLAMA_URL": fast_url, "OLLAMA_MODEL": MODEL}, workdir).start()
        gateway_paced = ServiceProcess("chat", {"OLLAMA_URL": paced_url, "OLLAMA_MODEL": MODEL}, workdir).start()
        gateways += [gateway, gateway_paced]
        litellm, litellm_url, litellm_log = start_litellm(litellm_binary, workdir, fast_url, paced_url, master_key)
        processes.append(litellm)
        auth = {"Authorization": f"Bearer {master_key}"}

        def openai(model, stream=False):
            return {"model": model, "messages": MESSAGES, "stream": stream}

        direct_body = {"model": MODEL, "messages": MESSAGES, "stream": False}
        latency_systems = [
            System(DIRECT, f"{fast_url}/api/chat", direct_body,
                   f"{fast_url}/api/chat", dict(direct_body, stream=True), "ndjson"),
            System("gateway /api/chat (+ /stream)", f"{gateway.url}/api/chat", {"message": "hola"},
                   f"{gateway.url}/api/chat/stream", {"message": "hola"}, "sse"),
            System("gateway /v1/chat/completions", f"{gateway.url}/v1/chat/completions", openai(MODEL),
                   f"{gateway.url}/v1/chat/completions", openai(MODEL, stream=True), "openai"),
            System("LiteLLM /chat/completions", f"{litellm_url}/chat/completions", openai("bench-fast"),
                   f"{litellm_url}/chat/completions", openai("bench-fast", stream=True), "openai", auth),
        ]
        floor = System(FLOOR, f"http://127.0.0.1:{floor_port}/", {"message": "hola"}, "", {}, "")
        load_systems = [
            System("direct", "", {}, f"{paced_url}/api/chat", dict(direct_body, stream=True), "ndjson"),
            System("gateway /api/chat/stream", "", {}, f"{gateway_paced.url}/api/chat/stream",
                   {"message": "hola"}, "sse"),
            System("LiteLLM", "", {}, f"{litellm_url}/chat/completions", openai("bench-paced", stream=True),
                   "openai", auth),
            System(FLOOR_STREAMS, "", {}, f"http://127.0.0.1:{floor_port}/stream", {"message": "hola"}, "sse"),
        ]
        # Whose CPU time each load row records: the client (this process) always, then these.
        served_by = {"direct": {"fake": paced_fake.pid},
                     "gateway /api/chat/stream": {"server": gateway_paced.proc.pid, "fake": paced_fake.pid},
                     "LiteLLM": {"server": litellm.pid, "fake": paced_fake.pid},
                     FLOOR_STREAMS: {"server": floor_app.pid}}
        # Whose memory the 256-stream load records: the two proxies'.
        pids = {name: served_by[name]["server"] for name in ("gateway /api/chat/stream", "LiteLLM")}

        load_before = loadavg()
        progress(f"non-stream latency: {args.requests} requests per system, in rounds")
        non_stream = interleaved([*latency_systems, floor], one_post, args.requests, 6, "non-stream")
        progress(f"first token: {args.first_tokens} streams per system, in rounds")
        first_token = interleaved(latency_systems, one_first_token, args.first_tokens, 6, "first token")

        for system in load_systems:  # warm-up: connections, imports, one stream each
            concurrent_streams(system, 4)
        load: dict[str, list[dict]] = {s.name: [] for s in load_systems}
        memory: dict[str, dict] = {}
        for count in args.streams:
            runs: dict[str, list[dict]] = {s.name: [] for s in load_systems}
            for repeat in range(args.repeats):
                for system in (load_systems if repeat % 2 == 0 else load_systems[::-1]):
                    watch_pid = pids.get(system.name) if count == max(args.streams) and repeat == 0 else None
                    with MemoryWatch(watch_pid) as watch:
                        run = concurrent_streams(system, count, served_by[system.name])
                    if watch_pid:
                        memory[system.name] = watch.figures
                    runs[system.name].append(run)
                    progress(f"{count} streams via {system.name}: {run['seconds']:.2f} s, "
                             f"{run['completed']} completed, {run['errors']} errors, CPU s "
                             + ", ".join(f"{who} {used:.2f}" for who, used in run["cpu_s"].items()))
                    time.sleep(1)  # let the sockets of the last load close
            for name, measured in runs.items():
                median = sorted(measured, key=lambda r: r["seconds"])[(len(measured) - 1) // 2]
                load[name].append(dict(median, runs_seconds=[r["seconds"] for r in measured],
                                       runs_errors=[r["errors"] for r in measured]))
        load_after = loadavg()

        figures = {
            "command": "python -m bench.side_by_side" + (" --quick" if args.quick else ""),
            "litellm_version": litellm_version,
            "loadavg": {"before": load_before, "after": load_after},
            "setup": {"fake_reply_tokens": len(PACED_REPLY.split()), "token_delay_s": TOKEN_DELAY,
                      "requests_each": args.requests, "first_tokens_each": args.first_tokens,
                      "repeats": args.repeats, "gateway_threads": CHAT_DEFAULT_THREADS},
            "non_stream": {name: summary(values) for name, values in non_stream.items()},
            "first_token": {name: summary(values) for name, values in first_token.items()},
            "concurrent_streams": load,
            "memory_256": memory,
            "targets": TARGETS,
        }
        direct_p50 = figures["non_stream"][DIRECT]["p50_ms"]
        direct_first = figures["first_token"][DIRECT]["p50_ms"]
        figures["added_p50_ms"] = {name: round(row["p50_ms"] - direct_p50, 3)
                                   for name, row in figures["non_stream"].items() if name != DIRECT}
        figures["gateway_p50_less_direct_less_floor_ms"] = round(
            figures["non_stream"]["gateway /api/chat (+ /stream)"]["p50_ms"] - direct_p50
            - figures["non_stream"][FLOOR]["p50_ms"], 3)
        figures["first_token_added_p50_ms"] = {name: round(row["p50_ms"] - direct_first, 3)
                                               for name, row in figures["first_token"].items()
                                               if name != DIRECT}
        figures["wall_ratio_vs_direct"] = {
            name: {str(run["streams"]): round(run["seconds"] / base["seconds"], 3)
                   for run, base in zip(runs, load["direct"])}
            for name, runs in load.items() if name != "direct"}
        figures["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        # A --quick run is for development: its figures never replace the real run's.
        name = "side_by_side-quick" if args.quick else "side_by_side"
        save(name, figures)
        print_table(figures)
        plot(figures, {"non_stream": non_stream, "first_token": first_token}, RESULTS / f"{name}.png")
    finally:
        for service in gateways:
            service.stop()
        for proc in processes:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if litellm_log:
            litellm_log.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
