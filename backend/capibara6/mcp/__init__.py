"""The context & RAG service: retrieval-augmented prompts, a safe calculator, claim verification."""

from __future__ import annotations

from capibara6.kit.app import Runtime, create_app as create_base_app
from capibara6.kit.settings import Env


def create_app(environ=None):
    # Only light modules here: torch and sentence-transformers load in warm-up,
    # so a bad setting is reported in a blink and /health answers 503 meanwhile.
    from capibara6.mcp.app import bp
    from capibara6.mcp.clock import Clock
    from capibara6.mcp.embedding import Embedder
    from capibara6.mcp.indexing import Indexer
    from capibara6.mcp.knowledge import KnowledgeBase
    from capibara6.mcp.settings import McpSettings
    from capibara6.mcp.sources import load_facts

    settings = McpSettings.from_env(Env(environ))
    embedder = Embedder(settings.embedding_model, settings.device, settings.torch_threads, settings.precision,
                        build_passes=settings.build_threads)
    indexer = Indexer(embedder, settings.common.state_dir, chunk_chars=settings.chunk_chars,
                      chunk_overlap=settings.chunk_overlap, batch_size=settings.embed_batch)
    knowledge = KnowledgeBase(settings, load_facts(settings.facts_file), embedder, indexer,
                              Clock(settings.timezone))
    runtime = Runtime(
        "mcp",
        warmup=knowledge.warm_up,
        reload=knowledge.rebuild,
        status=knowledge.status_line,
        checks={"index": knowledge.health},
    )
    knowledge.announce = runtime.status_changed  # indexing progress in systemd's STATUS= line
    app = create_base_app(settings.common, blueprints=[bp], runtime=runtime,
                          health_paths=["/api/mcp/health"])
    app.extensions.update({
        "capibara6.mcp": knowledge,
        "capibara6.mcp.settings": settings,
    })
    return app
