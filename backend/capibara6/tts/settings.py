"""Settings of the TTS service, read once at start (see kit/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from capibara6.kit.settings import CommonSettings, ConfigError, Env

ENGINES = ("auto", "transformers", "piper", "espeak")


@dataclass(frozen=True)
class TtsSettings:
    common: CommonSettings
    engine: str                  # one of ENGINES; "auto" picks the best installed engine
    model: str | None            # transformers: a directory or a cached hub id; piper: an .onnx voice
    voices_dir: Path             # piper: more .onnx voices (the deploy puts a native Spanish one here)
    device: str                  # "auto", "cpu", "cuda" or "cuda:N"
    cpu_threads: int             # threads one synthesis uses on the CPU; 0 = the library's (one per core)
    language: str                # the default language (and the one a transformers model speaks)
    max_chars: int               # longer text is a 413, never cut
    chunk_chars: int             # text is synthesized in pieces of about this size, at sentence ends
    max_queue: int               # speech requests admitted at once (speaking or waiting); more get 503
    queue_timeout: float         # seconds a request may wait for the synthesizer before a 503
    espeak_command: str          # the espeak-ng executable

    @classmethod
    def from_env(cls, env: Env) -> "TtsSettings":
        engine = (env.str("CAPIBARA6_TTS_ENGINE", "auto",
                          doc="auto (Piper, else espeak-ng), transformers, piper or espeak") or "auto").lower()
        if engine not in ENGINES:
            raise ConfigError(f"CAPIBARA6_TTS_ENGINE: expected one of {', '.join(ENGINES)}, got {engine!r}")
        device = (env.str("CAPIBARA6_TTS_DEVICE", "auto", doc="auto, cpu, cuda or cuda:N") or "auto").lower()
        if device not in ("auto", "cpu", "cuda") and not _is_cuda_index(device):
            raise ConfigError(f"CAPIBARA6_TTS_DEVICE: expected auto, cpu, cuda or cuda:N, got {device!r}")
        common = CommonSettings.from_env("tts", env, default_threads=16)
        max_queue = env.int("CAPIBARA6_TTS_MAX_QUEUE", 12, minimum=1, maximum=10_000,
                            doc="Requests waiting for the synthesizer before a 503 (below CAPIBARA6_THREADS)")
        if max_queue >= common.threads:
            # Speech waiting its turn holds a thread; /health and /voices need one left over.
            raise ConfigError(f"CAPIBARA6_TTS_MAX_QUEUE ({max_queue}) must be below CAPIBARA6_THREADS "
                              f"({common.threads}) so that /health keeps a thread")
        return cls(
            common=common,
            engine=engine,
            model=env.str("CAPIBARA6_TTS_MODEL",
                          doc="A transformers model directory or cached hub id, or a Piper .onnx voice"),
            voices_dir=Path(env.str("CAPIBARA6_TTS_VOICES_DIR", doc="More Piper voices (.onnx + .onnx.json)")
                            or common.cache_dir / "voices").expanduser(),
            device=device,
            # One by default: measured here, Piper on a busy 2-core host runs faster on one
            # thread than on two (RTF ~0.2 vs ~0.3), and the other services keep a core.
            cpu_threads=env.int("CAPIBARA6_TTS_CPU_THREADS", 1, minimum=0, maximum=256,
                                doc="CPU threads of the engine (0: its default)"),
            language=env.str("CAPIBARA6_TTS_LANGUAGE", "es",
                             doc="The default language").lower().replace("_", "-"),
            max_chars=env.int("CAPIBARA6_TTS_MAX_CHARS", 3000, minimum=1, maximum=1_000_000,
                              doc="Longest text (characters; longer is a 413, never cut)"),
            chunk_chars=env.int("CAPIBARA6_TTS_CHUNK_CHARS", 400, minimum=20, maximum=10_000,
                                doc="Text spoken in one piece (characters)"),
            max_queue=max_queue,
            queue_timeout=env.float("CAPIBARA6_TTS_QUEUE_TIMEOUT", 120.0, minimum=0.1, maximum=3600,
                                    doc="Seconds a request waits for the synthesizer before a 503"),
            espeak_command=env.str("CAPIBARA6_TTS_ESPEAK_COMMAND", "espeak-ng", doc="The espeak-ng program"),
        )


def _is_cuda_index(device: str) -> bool:
    prefix, _, index = device.partition(":")
    return prefix == "cuda" and index.isdigit()
