"""TTS fixtures: services per engine (started once per module) and audio checks."""

from __future__ import annotations

import base64
import io
import time
import wave

import numpy as np
import pytest
import requests

from tests.processes import ServiceProcess
from tests.tts.tiny_vits import make_tiny_vits

SPANISH = "Hola, soy Capibara6. Hoy hace sol en Madrid y mañana lloverá un poco."


def wait_until_ready(proc: ServiceProcess, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise AssertionError(f"tts exited with {proc.proc.returncode}:\n{proc.log()}")
        reply = requests.get(proc.url + "/health", timeout=5)
        if reply.status_code == 200:
            return reply.json()
        time.sleep(0.1)
    raise AssertionError(f"tts not ready within {timeout}s:\n{proc.log()}")


@pytest.fixture(scope="module")
def start_tts(tmp_path_factory):
    """start_tts(env) -> a ready tts service under waitress, stopped when the module ends."""
    started: list[ServiceProcess] = []

    def start(env: dict) -> ServiceProcess:
        proc = ServiceProcess("tts", env, tmp_path_factory.mktemp("tts")).start(wait=60)
        started.append(proc)
        wait_until_ready(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def tiny_vits_dir(tmp_path_factory):
    return make_tiny_vits(tmp_path_factory.mktemp("models") / "tiny-vits")


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Samples (float, [-1, 1]) and rate of a well-formed 16-bit mono WAV; asserts the header is sane."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2 and wav.getcomptype() == "NONE"
        frames = wav.readframes(wav.getnframes())
        rate = wav.getframerate()
        # The header's sizes agree with the bytes that follow it.
        assert len(frames) == wav.getnframes() * 2
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0, rate


def decode_streamed_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Samples and rate of a streamed WAV read whole: its sizes say "unknown", the data runs to the end."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and data[36:40] == b"data"
    assert data[4:8] == data[40:44] == b"\xff\xff\xff\xff"
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2 and wav.getcomptype() == "NONE"
        frames = wav.readframes(wav.getnframes())
        rate = wav.getframerate()
    assert len(frames) == len(data) - 44  # every byte after the header is audio, nothing was lost
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0, rate


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0


def assert_speech(samples: np.ndarray, rate: int, text: str) -> float:
    """Plausible speech for the text: 5 to 25 characters a second, and not silent."""
    duration = len(samples) / rate
    assert len(text) / 25 <= duration <= len(text) / 5 + 1.0, (duration, len(text))
    assert rms(samples) > 0.01, "the audio is silent"
    return duration


def b64_wav(body: dict) -> bytes:
    return base64.b64decode(body["audioContent"], validate=True)
