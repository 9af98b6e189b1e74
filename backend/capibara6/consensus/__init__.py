"""The consensus service: ask several models in parallel and combine their answers.

config.py    the YAML file of models, weights, templates and defaults, checked at start
checks.py    the typed readers config.py checks the file with
query.py     a request, checked against that config
fanout.py    every model asked at once, each within its own deadline
methods.py   normalizing, grouping and voting over the answers
engine.py    the query from start to reply, and what /models, /config, /health say
app.py       the routes
"""

from __future__ import annotations

from capibara6.kit.app import Runtime, create_app as create_base_app
from capibara6.kit.settings import Env


def create_app(environ=None):
    from capibara6.consensus.app import bp
    from capibara6.consensus.config import load_config
    from capibara6.consensus.engine import Consensus
    from capibara6.consensus.settings import ConsensusSettings
    from capibara6.ollama import Waiting, waiting_limit

    settings = ConsensusSettings.from_env(Env(environ))
    consensus = Consensus(
        settings.ollama.client(),  # no waiting slots per call: Consensus bounds whole queries
        lambda: load_config(settings.config_path, fallback_timeout=settings.ollama.timeout),
        max_prompt_chars=settings.max_prompt_chars,
        max_models=settings.max_models,
        waiting=Waiting(waiting_limit(settings.common.threads)),
    )
    runtime = Runtime(
        "consensus",
        checks={"ollama": consensus.ollama_check, "ollama_waiting": consensus.waiting.check},
        reload=consensus.reload,
        status=consensus.status_line,
    )
    app = create_base_app(settings.common, blueprints=[bp], runtime=runtime,
                          health_paths=["/api/consensus/health"])
    app.extensions.update({
        "capibara6.consensus": consensus,
        "capibara6.consensus.settings": settings,
    })
    return app
