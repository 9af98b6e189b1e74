"""espeak-ng (Debian's package) through its command line: small, native Spanish, CPU."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from capibara6.kit.settings import ConfigError
from capibara6.tts.audio import read_wav
from capibara6.tts.engines.base import Engine, Voice, normalize_language

DEFAULT_WPM = 175          # espeak-ng's own default rate, words per minute
MIN_WPM, MAX_WPM = 80, 450  # what espeak-ng accepts
SYNTHESIS_TIMEOUT_S = 120
_GENDERS = {"M": "male", "F": "female"}


class EspeakEngine(Engine):
    name = "espeak"

    def __init__(self, command: str = "espeak-ng"):
        super().__init__(model="espeak-ng", device="cpu")
        self.command = command
        self.executable: str | None = None

    def load(self) -> None:
        self.executable = shutil.which(self.command)
        if self.executable is None:
            raise ConfigError(f"CAPIBARA6_TTS_ENGINE=espeak: the program {self.command!r} is not "
                              "installed (apt-get install espeak-ng)")
        listing = subprocess.run([self.executable, "--voices"], capture_output=True, text=True,
                                 timeout=30, check=False)
        self.voices = parse_voice_list(listing.stdout)
        if listing.returncode != 0 or not self.voices:
            raise ConfigError(f"{self.command} --voices failed: {listing.stderr.strip() or 'no voices'}")
        self.model = f"espeak-ng {_version(self.executable)}".strip()
        self.sample_rate = 22050  # checked against each WAV espeak-ng writes

    def synthesize(self, text: str, voice: Voice, language: str, speed: float) -> np.ndarray:
        wpm = min(MAX_WPM, max(MIN_WPM, round(DEFAULT_WPM * speed)))
        # The text goes in on stdin: never on the command line, where it could read as an option.
        result = subprocess.run([self.executable, "--stdout", "--stdin", "-b", "1", "-v", str(voice.key),
                                 "-s", str(wpm)],
                                input=text.encode("utf-8"), capture_output=True,
                                timeout=SYNTHESIS_TIMEOUT_S, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"espeak-ng failed ({result.returncode}): "
                               f"{result.stderr.decode(errors='replace').strip()}")
        samples, rate = read_wav(result.stdout)
        if rate != self.sample_rate:
            raise RuntimeError(f"espeak-ng wrote {rate} Hz audio, expected {self.sample_rate} Hz")
        return samples


def parse_voice_list(listing: str) -> list[Voice]:
    """Voices from `espeak-ng --voices`, without the MBROLA ones (they need extra packages).

    A voice is named by its language tag (es, es-419, en-us); the name of its
    voice file (gmw/en for en-gb) is an alias, so "en" finds espeak's main English.
    """
    voices: dict[str, Voice] = {}
    for line in listing.splitlines()[1:]:
        columns = line.split()
        if len(columns) < 5 or columns[4].startswith("mb/"):
            continue
        tag = normalize_language(columns[1])
        if tag in voices:
            continue
        alias = normalize_language(columns[4].rsplit("/", 1)[-1])
        languages = (tag,) if alias == tag else (tag, alias)
        gender = _GENDERS.get(columns[2].rsplit("/", 1)[-1])
        voices[tag] = Voice(id=tag, name=columns[3].replace("_", " "), languages=languages,
                            gender=gender, key=columns[1])
    return sorted(voices.values(), key=lambda voice: voice.id)


def _version(executable: str) -> str:
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    # "eSpeak NG text-to-speech: 1.51  Data at: ..."
    words = out.split(":", 1)[-1].split()
    return words[0] if words else ""
