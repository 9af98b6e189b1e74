"""The chat gateway: chat with Ollama models, streaming, saved conversations."""

from __future__ import annotations

from capibara6.kit.app import Runtime, create_app as create_base_app
from capibara6.kit.settings import Env


def create_app(environ=None):
    from capibara6.chat.app import bp
    from capibara6.chat.conversations import SCHEMA, SQLITE_FILE, ConversationStore
    from capibara6.chat.gateway import Gateway
    from capibara6.chat.settings import ChatSettings
    from capibara6.kit.storage import open_database
    from capibara6.ollama import Waiting, waiting_limit

    settings = ChatSettings.from_env(Env(environ))
    waiting = Waiting(waiting_limit(settings.common.threads))
    # A waitress thread makes one Ollama call at a time (a stream, a chat, /health's model
    # list): as many pooled connections as threads, so none is closed when given back.
    gateway = Gateway(settings.ollama.client(waiting, connections=settings.common.threads),
                      settings.ollama.model)
    database = open_database(settings.storage, SCHEMA, SQLITE_FILE)
    store = ConversationStore(database)
    runtime = Runtime(
        "chat",
        checks={"ollama": gateway.ollama_check, "ollama_waiting": waiting.check,
                "storage": database.check},
        status=lambda: f"serving; Ollama {settings.ollama.url}, model {settings.ollama.model}",
    )
    app = create_base_app(settings.common, blueprints=[bp], runtime=runtime,
                          health_paths=["/api/health"])
    app.extensions.update({
        "capibara6.chat": gateway,
        "capibara6.chat.settings": settings,
        "capibara6.chat.store": store,
    })
    return app
