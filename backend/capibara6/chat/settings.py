from __future__ import annotations

from dataclasses import dataclass

from capibara6.kit.settings import CommonSettings, Env
from capibara6.kit.storage import StorageSettings
from capibara6.ollama import OllamaSettings

DEFAULT_SYSTEM_PROMPT = (
    "Eres Capibara6, un asistente de IA que responde en español de forma clara, "
    "precisa y amable, salvo que te pidan otro idioma."
)


@dataclass(frozen=True)
class ChatSettings:
    common: CommonSettings
    ollama: OllamaSettings
    system_prompt: str
    max_message_chars: int
    max_upload_bytes: int
    storage: StorageSettings

    @classmethod
    def from_env(cls, env: Env) -> "ChatSettings":
        max_upload = env.int("CAPIBARA6_CHAT_MAX_UPLOAD_BYTES", 10 * 1024 * 1024,
                             minimum=1024, maximum=512 * 1024 * 1024, doc="Largest attached file (bytes)")
        # The body limit covers the largest upload plus the form's other fields.
        common = CommonSettings.from_env("chat", env, default_threads=64,
                                         default_max_body_bytes=max_upload + 256 * 1024)
        return cls(
            common=common,
            ollama=OllamaSettings.from_env(env, default_model=True),
            system_prompt=env.str("CAPIBARA6_CHAT_SYSTEM_PROMPT", DEFAULT_SYSTEM_PROMPT,
                                  doc="The system prompt when a request brings none"),
            max_message_chars=env.int("CAPIBARA6_CHAT_MAX_MESSAGE_CHARS", 32000,
                                      minimum=1, maximum=1_000_000,
                                      doc="Longest message, system prompt and saved text (characters)"),
            max_upload_bytes=max_upload,
            storage=StorageSettings.from_env(env, common.state_dir),
        )
