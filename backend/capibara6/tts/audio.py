"""Audio as the service hands it out: 16-bit mono PCM, bare or in a WAV file.

Engines give float samples in [-1, 1]; this module turns them into bytes
and reads the WAV that espeak-ng writes. No Flask here.
"""

from __future__ import annotations

import struct
from typing import Callable

import numpy as np

# What OpenAI's /v1/audio/speech means by "pcm": 24 kHz, 16-bit signed, little-endian, mono.
OPENAI_PCM_RATE = 24_000
# A streamed WAV's header leaves before its length is known: its RIFF and data sizes are
# the largest there is, as OpenAI's streamed WAV writes them; browsers' <audio>, ffmpeg
# and Python's wave module then read the data to the end of the body.
UNKNOWN_SIZE = 0xFFFF_FFFF
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")


def to_int16(samples: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2")


def wav_header(sample_rate: int, data_bytes: int | None) -> bytes:
    """The 44-byte header of a 16-bit mono PCM WAV; data_bytes None: a streamed one of unknown length."""
    data_size = UNKNOWN_SIZE if data_bytes is None else data_bytes
    riff_size = UNKNOWN_SIZE if data_bytes is None else _HEADER.size - 8 + data_bytes
    return _HEADER.pack(b"RIFF", riff_size, b"WAVE", b"fmt ", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16,
                        b"data", data_size)


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """A complete WAV file (RIFF, PCM 16-bit, mono) holding the samples."""
    pcm = pcm_bytes(samples)
    return wav_header(sample_rate, len(pcm)) + pcm


def streamed_wav(sample_rate: int) -> Callable[[np.ndarray], bytes]:
    """An encoder for the pieces of one streamed WAV: the header comes out with the first piece."""
    header = [wav_header(sample_rate, None)]

    def encode(samples: np.ndarray) -> bytes:
        return (header.pop() if header else b"") + pcm_bytes(samples)
    return encode


def pcm_bytes(samples: np.ndarray) -> bytes:
    return to_int16(samples).tobytes()


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Linear-interpolation resampling: plenty for speech between 16 and 24 kHz."""
    if from_rate == to_rate or len(samples) == 0:
        return np.asarray(samples, dtype=np.float32)
    count = max(1, round(len(samples) * to_rate / from_rate))
    positions = np.arange(count, dtype=np.float64) * (from_rate / to_rate)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Float samples and sample rate of a 16-bit PCM WAV.

    Reads the chunks by hand because espeak-ng --stdout writes a streaming
    header whose sizes are 0x7fffffff; the data chunk runs to the end.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    offset, sample_rate, channels, bits = 12, None, None, None
    while offset + 8 <= len(data):
        chunk_id, size = data[offset:offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk_id == b"fmt ":
            fmt, channels, sample_rate = struct.unpack_from("<HHI", data, body)
            bits = struct.unpack_from("<H", data, body + 14)[0]
            if fmt != 1 or bits != 16:
                raise ValueError(f"unsupported WAV encoding (format {fmt}, {bits} bits)")
        elif chunk_id == b"data":
            if sample_rate is None:
                raise ValueError("WAV data chunk before its fmt chunk")
            payload = data[body:min(len(data), body + size)]
            payload = payload[:len(payload) - len(payload) % (2 * channels)]
            frames = np.frombuffer(payload, dtype="<i2").reshape(-1, channels)
            return frames.mean(axis=1).astype(np.float32) / 32768.0, sample_rate
        offset = body + size + (size & 1)
    raise ValueError("WAV file without a data chunk")
