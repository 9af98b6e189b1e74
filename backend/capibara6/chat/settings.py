from __future__ import annotations

from dataclasses import dataclass

from capibara6.kit.settings import CommonSettings, Env
from capibara6.kit.storage import StorageSettings

DEFAULT_SYSTEM_PROMPT = (
    "Eres Capibara6, un asistente de IA que responde en español de forma clara, "
    "precisa y amable, salvo que te pidan otro idioma."
)


@dataclass(frozen=True)
class ChatSettings:
    common: CommonSettings
    ollama_url: str
    ollama_model: str
    ollama_timeout: float
    ollama_connect_timeout: float
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
            ollama_url=env.url("OLLAMA_URL", "http://127.0.0.1:11434", doc="Where Ollama answers"),
            ollama_model=env.str("OLLAMA_MODEL", "llama3.2:latest",
                                 doc="The model when a request names none"),
            ollama_timeout=env.float("OLLAMA_TIMEOUT", 120.0, minimum=0.1, maximum=3600,
                                     doc="Seconds without a byte from Ollama before a 504"),
            ollama_connect_timeout=env.float("CAPIBARA6_OLLAMA_CONNECT_TIMEOUT", 3.0,
                                             minimum=0.1, maximum=60, doc="Seconds to connect to Ollama"),
            system_prompt=env.str("CAPIBARA6_CHAT_SYSTEM_PROMPT", DEFAULT_SYSTEM_PROMPT,
                                  doc="The system prompt when a request brings none"),
            max_message_chars=env.int("CAPIBARA6_CHAT_MAX_MESSAGE_CHARS", 32000,
                                      minimum=1, maximum=1_000_000,
                                      doc="Longest message, system prompt and saved text (characters)"),
            max_upload_bytes=max_upload,
            storage=StorageSettings.from_env(env, common.state_dir),
        )
