from __future__ import annotations

from dataclasses import dataclass

from capibara6.kit.settings import CommonSettings, Env
from capibara6.kit.storage import StorageSettings
from capibara6.ollama import OllamaSettings

# waitress threads for chat. A stream holds one for its whole life, nearly all of it waiting
# on Ollama, so the pool is sized by how many people may chat at once, not by cores: 320 let
# 280 requests wait on Ollama (ollama.waiting_limit) and keep 40 that never do, for /health
# and the watchdog. What that costs, measured on a 2-core VM (issue #16, 256 streams of 8
# tokens 50 ms apart, CAPIBARA6_THREADS=64/320/512/1024): an idle thread ~16 kB of RSS (8 MB
# of stack is reserved, not touched), so 320 threads are ~4 MB more than 64; a running stream
# ~50 kB more (256 at once: +14-16 MB over a 52 MB process, level after repeated bursts). CPU
# does not grow with threads: a stream of 8 tokens costs ~1.7 ms one at a time, ~3 ms with 256
# at once (the GIL puts them on one core). File descriptors: a stream has two (its client and
# its Ollama connection), 560 at most, under systemd's default soft limit of 1024.
DEFAULT_THREADS = 320

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
        common = CommonSettings.from_env("chat", env, default_threads=DEFAULT_THREADS,
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
