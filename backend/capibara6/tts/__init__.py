"""Text to speech: transformers models on the GPU, Piper or espeak-ng on the CPU."""

from __future__ import annotations

from capibara6.kit.app import Runtime, create_app as create_base_app
from capibara6.kit.settings import Env


class TtsRuntime(Runtime):
    """The kit's runtime, with the engine's facts at the top of /health.

    DESIGN.md ("tts — 5002") names engine, model, device, gpu, model_loaded
    and sample_rate as /health's own fields.
    """

    def __init__(self, speaker):
        super().__init__("tts", warmup=speaker.load, status=speaker.status_line)
        self.speaker = speaker

    def health(self) -> tuple[int, dict]:
        status, body = super().health()
        body.update(self.speaker.describe())
        return status, body


def create_app(environ=None):
    from capibara6.tts.app import bp
    from capibara6.tts.engines import build_engine
    from capibara6.tts.settings import TtsSettings
    from capibara6.tts.speech import Speaker

    settings = TtsSettings.from_env(Env(environ))
    # Checks the model path and imports the engine's libraries; the load is the warm-up's job.
    engine = build_engine(settings)
    speaker = Speaker(engine, default_language=settings.language, max_chars=settings.max_chars,
                      chunk_chars=settings.chunk_chars, max_queue=settings.max_queue,
                      queue_timeout=settings.queue_timeout)
    app = create_base_app(settings.common, blueprints=[bp], runtime=TtsRuntime(speaker))
    app.extensions.update({"capibara6.tts": speaker, "capibara6.tts.settings": settings})
    return app
