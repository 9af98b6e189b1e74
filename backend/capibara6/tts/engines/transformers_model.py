"""Any text-to-waveform model of the transformers library (VITS/MMS, Bark, ...).

The model is loaded with the library's own code (its text-to-speech
pipeline: AutoModelForTextToWaveform with the model's tokenizer or
processor) from a local directory, or from a hub id already in the local
Hugging Face cache: nothing is downloaded. It runs on CUDA when torch sees a
GPU, else on the CPU. This is the engine of the GPU VM.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np

from capibara6.kit.settings import ConfigError
from capibara6.tts.engines.base import Engine, Voice, first_line

MAX_LISTED_SPEAKERS = 64


def resolve_model_dir(reference: str) -> Path:
    """The model's directory: the path itself, or a hub id's snapshot in the local cache.

    Cheap (no model load) so that a wrong setting stops the service at once.
    """
    path = Path(reference).expanduser()
    looks_like_hub_id = not path.is_absolute() and reference.count("/") == 1 and not path.exists()
    if looks_like_hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            raise ConfigError("CAPIBARA6_TTS_ENGINE=transformers needs torch and transformers; "
                              "install requirements-models.txt") from None
        cached = try_to_load_from_cache(reference, "config.json")
        if not isinstance(cached, str):
            raise ConfigError(f"CAPIBARA6_TTS_MODEL: {reference!r} is neither a directory nor a model "
                              "in the local Hugging Face cache (nothing is downloaded)")
        path = Path(cached).parent
    if not path.is_dir():
        raise ConfigError(f"CAPIBARA6_TTS_MODEL: no model directory at {path}")
    config = path / "config.json"
    try:
        parsed = json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"CAPIBARA6_TTS_MODEL: {path} has no config.json; "
                          "is it a transformers model saved with save_pretrained?") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"CAPIBARA6_TTS_MODEL: {config} is not valid JSON ({exc})") from None
    if not isinstance(parsed, dict) or "model_type" not in parsed:
        raise ConfigError(f"CAPIBARA6_TTS_MODEL: {config} names no model_type")
    return path


class TransformersEngine(Engine):
    name = "transformers"

    def __init__(self, model_dir: Path, model_name: str, language: str, device: str = "auto",
                 cpu_threads: int = 0):
        super().__init__(model=model_name, device=device)
        self.cpu_threads = cpu_threads
        self.model_dir = model_dir
        self.language = language
        self._pipeline = None
        self._speaker_param: str | None = None

    def import_libraries(self) -> None:
        try:
            import torch  # noqa: F401
            import transformers
        except ImportError as exc:
            raise ConfigError(f"CAPIBARA6_TTS_ENGINE=transformers needs torch and transformers ({exc}); "
                              "install requirements-models.txt") from None
        transformers.utils.logging.disable_progress_bar()

    def load(self) -> None:
        import torch
        import transformers

        self.device = self._pick_device(torch)
        if self.device == "cpu" and self.cpu_threads:
            torch.set_num_threads(self.cpu_threads)
        try:
            self._pipeline = transformers.pipeline("text-to-speech", model=str(self.model_dir),
                                                   device=self.device)
        except Exception as exc:  # a broken directory fails in many ways inside the library
            raise ConfigError(f"CAPIBARA6_TTS_MODEL: cannot load the model in {self.model_dir}: "
                              f"{first_line(exc)}") from None
        if not self._pipeline.sampling_rate:
            raise ConfigError(f"CAPIBARA6_TTS_MODEL: the model in {self.model_dir} states no sampling rate")
        self.sample_rate = int(self._pipeline.sampling_rate)
        if self.device.startswith("cuda"):
            self.gpu = torch.cuda.get_device_name(torch.device(self.device))
        model = self._pipeline.model
        accepted = inspect.signature(model.forward).parameters
        self.supports_speed = "speaking_rate" in accepted
        self._speaker_param = "speaker_id" if "speaker_id" in accepted else None
        self.voices = self._list_voices(model.config)

    def synthesize(self, text: str, voice: Voice, language: str, speed: float) -> np.ndarray:
        import torch

        params = {}
        if self.supports_speed:
            params["speaking_rate"] = speed
        if self._speaker_param and voice.key is not None:
            params["speaker_id"] = voice.key
        with torch.inference_mode():
            output = self._pipeline(text, forward_params=params)
        audio = np.asarray(output["audio"], dtype=np.float32)
        if audio.ndim > 1:  # (channels, samples): speak in mono
            audio = audio.reshape(-1, audio.shape[-1]).mean(axis=0)
        return np.clip(audio, -1.0, 1.0)

    def _pick_device(self, torch) -> str:
        cuda = torch.cuda.is_available()
        if self.device == "auto":
            return "cuda:0" if cuda else "cpu"
        if self.device.startswith("cuda") and not cuda:
            raise ConfigError(f"CAPIBARA6_TTS_DEVICE={self.device}: torch sees no CUDA GPU here")
        return "cuda:0" if self.device == "cuda" else self.device

    def _list_voices(self, config) -> list[Voice]:
        speakers = int(getattr(config, "num_speakers", 1) or 1)
        if speakers <= 1 or self._speaker_param is None:
            return [Voice(id="default", name=f"{self.model} (default voice)", languages=(self.language,))]
        return [Voice(id=f"speaker-{index}", name=f"{self.model} speaker {index}",
                      languages=(self.language,), key=index)
                for index in range(min(speakers, MAX_LISTED_SPEAKERS))]

