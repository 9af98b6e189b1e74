"""Speech synthesis speed per engine on a fixed Spanish paragraph.

Prints (and saves in bench/results/tts.json), for each engine:
- real-time factor (RTF): synthesis time / audio duration, median of the runs;
- time to first audio in process: until the first part of the first sentence is
  synthesized (Piper: its first 0.35 s, engines/piper_split.py);
- over HTTP, service under waitress, for each streaming route (POST /api/tts/speak,
  /v1/audio/speech with response_format wav and pcm): time to first audio (until
  bytes past the WAV header arrive), RTF (until the last byte / audio duration), and
  how long a player starting at the first audio would stall waiting for more;
- the model load time;
- CPU-time RTF: CPU seconds (all threads, and espeak-ng's child processes) per
  second of audio. On a shared, busy machine the wall-clock RTF mostly measures
  the other tenants; the CPU-time RTF is what one free core would give.
Targets on this 2-core CPU: Piper RTF < 0.15 (#16: not worse than 0.11) and first
audio < 250 ms over HTTP, espeak-ng RTF < 0.05. The load average is noted at the
start and the end of each engine: the machine is shared.

The transformers engine runs a tiny random VITS model unless --transformers-model
names a real one (a directory or a cached hub id): the tiny model's figures
measure the plumbing, not a real voice.

    .venv/bin/python -m bench.tts [--runs 5] [--engines espeak,piper,transformers]
                                  [--transformers-model DIR] [--cpu-threads N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

from bench._common import PYTHON, free_port, save, start

from capibara6.tts.engines import build_engine
from capibara6.tts.settings import TtsSettings
from capibara6.tts.speech import Speaker  # noqa: E402
from capibara6.kit.settings import Env  # noqa: E402

PARAGRAPH = (
    "Capibara6 es un asistente de inteligencia artificial que habla español. "
    "Esta mañana, el cielo de Madrid amaneció despejado, aunque se esperan lluvias por la tarde. "
    "Los capibaras son los roedores más grandes del mundo: viven en grupos cerca de ríos y lagunas, "
    "nadan muy bien y pueden quedarse bajo el agua varios minutos. "
    "¿Quieres que te lea las noticias o prefieres escuchar música?"
)
TARGET_RTF = {"piper": 0.15, "espeak": 0.05}
TARGET_FIRST_AUDIO_MS = {"piper": 250}  # over HTTP, the benchmark paragraph (#16)


def engine_env(engine: str, model: str | None, cpu_threads: int | None) -> dict:
    env = {"CAPIBARA6_TTS_ENGINE": engine}
    if cpu_threads is not None:
        env["CAPIBARA6_TTS_CPU_THREADS"] = str(cpu_threads)
    if model:
        env["CAPIBARA6_TTS_MODEL"] = model
    return env


def in_process(env: dict, runs: int) -> dict:
    speaker = Speaker(build_engine(TtsSettings.from_env(Env(env))), default_language="es",
                      max_chars=10_000, chunk_chars=400, max_queue=4, queue_timeout=600)
    load_s = speaker.load()
    request = speaker.request(PARAGRAPH)
    rtfs, cpu_rtfs, firsts, audio_s = [], [], [], 0.0
    for _ in range(runs):
        cpu_started = cpu_seconds()
        started = time.perf_counter()
        stream = speaker.stream(request)
        samples = 0
        first = None
        for piece in stream:
            if first is None:
                first = time.perf_counter() - started
            samples += len(piece)
        stream.close()
        elapsed = time.perf_counter() - started
        audio_s = samples / speaker.engine.sample_rate
        rtfs.append(elapsed / audio_s)
        cpu_rtfs.append((cpu_seconds() - cpu_started) / audio_s)
        firsts.append(first)
    figures = {"model": speaker.engine.model, "device": speaker.engine.device, "load_s": load_s,
               "audio_s": round(audio_s, 2), "rtf": round(statistics.median(rtfs), 4),
               "rtf_best": round(min(rtfs), 4), "cpu_rtf": round(statistics.median(cpu_rtfs), 4),
               "first_audio_ms": round(statistics.median(firsts) * 1000, 1)}
    if speaker.engine.name == "piper":
        figures["first_audio_profile_ms"] = piper_first_audio_profile(speaker, request, runs)
    return figures


def piper_first_audio_profile(speaker: Speaker, request, runs: int) -> dict:
    """Where Piper's first audio goes (medians, ms): the first sentence's phonemes, the encoder
    (phoneme ids to the latent, the whole sentence), the first part's decode; and the whole
    sentence's decode, which the first audio no longer waits for."""
    from capibara6.tts.engines.piper_split import EARLY_CUTS
    from capibara6.tts.text import split_for_speech

    engine = speaker.engine
    file_id, _ = request.voice.key
    voice, model = engine._by_file[file_id][request.language], engine._models[file_id]
    config = voice.config
    sentence = split_for_speech(PARAGRAPH, 400)[0]
    steps: dict[str, list[float]] = {"phonemes": [], "encoder": [], "first_part": [],
                                     "whole_sentence_decode": []}
    for _ in range(runs):
        started = time.perf_counter()
        ids = voice.phonemes_to_ids(voice.phonemize(sentence)[0])
        steps["phonemes"].append(time.perf_counter() - started)
        started = time.perf_counter()
        latents = model.latents({
            "input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([config.noise_scale, config.length_scale, config.noise_w_scale], dtype=np.float32)})
        steps["encoder"].append(time.perf_counter() - started)
        started = time.perf_counter()
        next(model.decode_in_parts(latents, EARLY_CUTS))
        steps["first_part"].append(time.perf_counter() - started)
        started = time.perf_counter()
        model.decode(latents)
        steps["whole_sentence_decode"].append(time.perf_counter() - started)
    return {step: round(statistics.median(seconds) * 1000, 1) for step, seconds in steps.items()}


def cpu_seconds() -> float:
    """CPU time of this process's threads and of its finished children (espeak-ng)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


HTTP_ROUTES = {  # what the bench sends to each streaming route, and the bytes before the audio
    "/api/tts/speak (wav)": ("/api/tts/speak", {"text": PARAGRAPH}, 44),
    "/v1/audio/speech (wav)": ("/v1/audio/speech", {"input": PARAGRAPH, "response_format": "wav"}, 44),
    "/v1/audio/speech (pcm)": ("/v1/audio/speech", {"input": PARAGRAPH, "response_format": "pcm"}, 0),
}


def over_http(env: dict, runs: int) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start([PYTHON, "-m", "capibara6", "serve", "tts", "--port", str(port)], f"{url}/health",
                 env={**env, "CAPIBARA6_STATE_DIR": "/tmp/capibara6-bench-tts"})
    try:
        deadline = time.monotonic() + 300
        while requests.get(f"{url}/health", timeout=5).status_code != 200:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"tts with {env} never became ready")
            time.sleep(0.2)
        # The routes take turns, so that the other tenants' load falls on each alike.
        measured = {label: [] for label in HTTP_ROUTES}
        for _ in range(runs):
            for label, (path, body, header) in HTTP_ROUTES.items():
                measured[label].append(streamed(url + path, body, header))
        return {label: {"first_audio_ms": round(statistics.median(run[0] for run in runs_of) * 1000, 1),
                        "rtf": round(statistics.median(run[1] for run in runs_of), 4),
                        "playback_stall_ms": round(statistics.median(run[2] for run in runs_of) * 1000, 1)}
                for label, runs_of in measured.items()}
    finally:
        proc.terminate()
        proc.wait(30)


def streamed(url: str, body: dict, header_bytes: int) -> tuple[float, float, float]:
    """Of a streamed answer read to its end: seconds to the first audio, the RTF, and the
    seconds a player that starts at the first audio would stall waiting for more."""
    started = time.perf_counter()
    arrivals = []  # (seconds since the request, bytes so far)
    with requests.post(url, json=body, stream=True, timeout=300) as reply:
        reply.raise_for_status()
        data = bytearray()
        for chunk in reply.iter_content(None):
            data += chunk
            if len(data) > header_bytes:
                arrivals.append((time.perf_counter() - started, len(data) - header_bytes))
        elapsed = time.perf_counter() - started
    # WAV: the rate is in its header (bytes 24-27); bare PCM is OpenAI's 24 kHz.
    rate = int.from_bytes(data[24:28], "little") if header_bytes else int(reply.headers["X-Sample-Rate"])
    stall, runs_out, played = 0.0, arrivals[0][0], 0
    for arrived, audio_bytes in arrivals:
        if arrived > runs_out:
            stall += arrived - runs_out
            runs_out = arrived
        runs_out += (audio_bytes - played) / 2 / rate
        played = audio_bytes
    return arrivals[0][0], elapsed / ((len(data) - header_bytes) / 2 / rate), stall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engines", default="espeak,piper,transformers")
    parser.add_argument("--transformers-model", default=None)
    parser.add_argument("--cpu-threads", type=int, default=None,
                        help="CAPIBARA6_TTS_CPU_THREADS (default: the service's default, 1)")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    print(f"paragraph: {len(PARAGRAPH)} characters; load average {load:.2f} on {os.cpu_count()} cores",
          flush=True)
    figures = {"paragraph_chars": len(PARAGRAPH), "load_average_1min": round(load, 2),
               "cpu_threads": args.cpu_threads if args.cpu_threads is not None else "default (1)",
               "engines": {}}
    with tempfile.TemporaryDirectory() as scratch:
        for engine in args.engines.split(","):
            model = None
            label = engine
            if engine == "transformers":
                model = args.transformers_model
                if model is None:
                    from tests.tts.tiny_vits import make_tiny_vits
                    model = str(make_tiny_vits(Path(scratch) / "tiny-vits"))
                    label = "transformers (tiny random VITS: plumbing only)"
            print(f"progress: {label}", flush=True)
            env = engine_env(engine, model, args.cpu_threads)
            load_before = os.getloadavg()[0]
            result = in_process(env, args.runs)
            result["http"] = over_http(env, args.runs)
            result["first_audio_http_ms"] = result["http"]["/api/tts/speak (wav)"]["first_audio_ms"]
            result["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            if engine in TARGET_RTF:
                result["target_rtf"] = TARGET_RTF[engine]
                result["meets_target"] = result["rtf"] < TARGET_RTF[engine]
            if engine in TARGET_FIRST_AUDIO_MS:
                result["target_first_audio_ms"] = TARGET_FIRST_AUDIO_MS[engine]
                result["meets_first_audio_target"] = (
                    result["first_audio_http_ms"] < TARGET_FIRST_AUDIO_MS[engine])
            figures["engines"][label] = result
            print(f"{label:<48} RTF {result['rtf']:.3f} (best {result['rtf_best']:.3f},"
                  f" CPU-time {result['cpu_rtf']:.3f})"
                  f"  first audio {result['first_audio_ms']:.0f} ms in process"
                  f"  audio {result['audio_s']:.1f} s  load {result['load_s']:.2f} s"
                  + (f"  target RTF < {TARGET_RTF[engine]}" if engine in TARGET_RTF else "")
                  + f"  (load average {load_before:.2f} -> {os.getloadavg()[0]:.2f})", flush=True)
            if "first_audio_profile_ms" in result:
                print("    first audio in process, ms: " + ", ".join(
                    f"{step} {ms:.0f}" for step, ms in result["first_audio_profile_ms"].items()), flush=True)
            for route, measured in result["http"].items():
                print(f"    {route:<26} first audio {measured['first_audio_ms']:6.0f} ms   RTF {measured['rtf']:.3f}"
                      f"   playback stall {measured['playback_stall_ms']:.0f} ms", flush=True)
    save("tts", figures)


if __name__ == "__main__":
    main()
