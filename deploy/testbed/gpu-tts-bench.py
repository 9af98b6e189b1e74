#!/usr/bin/env python3
"""One command for a machine with an NVIDIA GPU: TTS on CUDA, and how fast it speaks.

Needs the driver (nvidia-smi lists the GPU) and the CUDA build of torch in the
Python that runs the service (a release venv built with
capibara6_app_torch_variant: cuda, or a checkout's .venv with
requirements-torch-cuda.txt). It starts `capibara6 serve tts` with the
transformers engine on `cuda`, as systemd would (NOTIFY_SOCKET, so the STATUS=
line `systemctl status` shows is printed), checks that /health says
device cuda:N and names the GPU, then synthesises the benchmark paragraph of
bench/tts.py and prints the real-time factor and the time to first audio.

    deploy/testbed/gpu-tts-bench.py [--model DIR|HUB_ID] [--python PY] [--runs 3] [--device cuda]

--model: a transformers text-to-speech model, a directory or a hub id in the
local Hugging Face cache (capibara6_app_tts_model_repo: facebook/mms-tts-spa
fetches a Spanish MMS voice at deploy time). Without it a tiny random VITS model
is made locally: its figures measure the plumbing (CUDA, the service), not a
real voice. --device cpu runs the same steps on a machine without a GPU.
Exit status 1 when the GPU, CUDA torch or the service is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from tts import PARAGRAPH  # noqa: E402  (bench/tts.py: the benchmark paragraph, one place)


def fail(message: str) -> None:
    print(f"gpu-tts-bench: {message}", file=sys.stderr)
    raise SystemExit(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def preflight(python: str, device: str) -> None:
    if device.startswith("cuda"):
        smi = shutil.which("nvidia-smi")
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True) if smi else None
        if listing is None or listing.returncode != 0 or "GPU " not in listing.stdout:
            fail("nvidia-smi does not list a GPU: is the NVIDIA driver installed and loaded "
                 f"(the capibara6_nvidia role)? {listing.stdout + listing.stderr if listing else 'no nvidia-smi'}")
        print(listing.stdout.strip())
    probe = subprocess.run([python, "-c", "import torch; print(torch.__version__, torch.version.cuda, "
                            "torch.cuda.is_available())"], capture_output=True, text=True)
    if probe.returncode != 0:
        fail(f"{python} cannot import torch: {probe.stderr.strip().splitlines()[-1:]}")
    version, cuda, available = probe.stdout.split()
    print(f"torch {version} (CUDA {cuda}), CUDA available: {available}")
    if device.startswith("cuda") and available != "True":
        fail(f"torch {version} sees no CUDA GPU: install the CUDA build (requirements-torch-cuda.txt)")


def start_service(python: str, env: dict, notify_path: str) -> tuple[subprocess.Popen, str, str]:
    """The service, ready; its URL and the STATUS= line it sent with READY=1."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(1.0)
    port = free_port()
    proc = subprocess.Popen([python, "-m", "capibara6", "serve", "tts", "--port", str(port)],
                            cwd=ROOT, env={**os.environ, **env, "NOTIFY_SOCKET": notify_path},
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 900  # TimeoutStartSec= of the unit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(f"the tts service exited with {proc.returncode}:\n{proc.stderr.read()}")
        try:
            lines = notify.recv(65536).decode().splitlines()
        except socket.timeout:
            continue
        if "READY=1" in lines:
            status = next((line for line in lines if line.startswith("STATUS=")), "STATUS=?")
            return proc, f"http://127.0.0.1:{port}", status
    proc.kill()
    fail("the tts service was not ready within 15 minutes")


def measure(url: str, runs: int) -> dict:
    rtfs, firsts = [], []
    for _ in range(runs):
        started = time.perf_counter()
        reply = requests.post(f"{url}/tts", json={"text": PARAGRAPH}, timeout=600)
        elapsed = time.perf_counter() - started
        if reply.status_code != 200:
            fail(f"POST /tts answered {reply.status_code}: {reply.text[:500]}")
        body = reply.json()
        rtfs.append(elapsed / body["duration_s"])
        # Time to first audio: the first bytes of the route that streams (one sentence at a time).
        started = time.perf_counter()
        with requests.post(f"{url}/v1/audio/speech", json={"input": PARAGRAPH, "response_format": "pcm"},
                           stream=True, timeout=600) as stream:
            stream.raise_for_status()
            chunks = stream.iter_content(4096)
            next(chunks)
            firsts.append(time.perf_counter() - started)
            for _ in chunks:
                pass
    return {"rtf": statistics.median(rtfs), "first_ms": statistics.median(firsts) * 1000,
            "audio_s": body["duration_s"], "voice": body["voice"], "native": body.get("native")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a transformers TTS model directory or cached hub id")
    parser.add_argument("--python", default=sys.executable, help="the Python with capibara6 and torch")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu to try the steps without a GPU")
    args = parser.parse_args()
    preflight(args.python, args.device)
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model
        if model is None:
            made = subprocess.run([args.python, "-c", "import sys; from tests.tts.tiny_vits import make_tiny_vits;"
                                   " make_tiny_vits(__import__('pathlib').Path(sys.argv[1]))",
                                   f"{scratch}/tiny-vits"], cwd=ROOT, capture_output=True, text=True)
            if made.returncode != 0:
                fail(f"cannot make the tiny model: {made.stderr.strip()[-500:]}")
            model = f"{scratch}/tiny-vits"
            print("model: a tiny random VITS made here (figures measure the plumbing, not a real voice)")
        env = {"CAPIBARA6_TTS_ENGINE": "transformers", "CAPIBARA6_TTS_MODEL": model,
               "CAPIBARA6_TTS_DEVICE": args.device, "CAPIBARA6_STATE_DIR": f"{scratch}/state",
               "CAPIBARA6_CACHE_DIR": f"{scratch}/cache", "CAPIBARA6_TTS_MAX_CHARS": "10000"}
        proc, url, status = start_service(args.python, env, f"{scratch}/notify.sock")
        try:
            health = requests.get(f"{url}/health", timeout=10).json()
            print(f"systemctl status would say: {status}")
            print(f"/health: device {health['device']}, gpu {health['gpu']}, load {health['load_s']} s")
            if args.device.startswith("cuda") and not (str(health["device"]).startswith("cuda") and health["gpu"]):
                fail(f"the service is not on the GPU: {health}")
            figures = measure(url, args.runs)
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"paragraph: {len(PARAGRAPH)} characters, {figures['audio_s']:.1f} s of audio "
          f"(voice {figures['voice']}, native {figures['native']})")
    print(f"RTF {figures['rtf']:.4f} (median of {args.runs}; synthesis time / audio time)")
    print(f"time to first audio {figures['first_ms']:.0f} ms (POST /v1/audio/speech, streamed PCM)")


if __name__ == "__main__":
    main()
