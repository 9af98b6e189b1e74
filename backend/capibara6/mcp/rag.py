"""Retrieval-augmented prompts and claim verification, on top of the knowledge base.

augment: the pieces that score at least min_score go before the prompt, in
a block the model can tell apart from the question; when none does, the
prompt is returned unchanged with needs_context false.

verify: a claim is verified when a source supports it with a score of at
least verify_threshold and states no other figures. Embeddings barely see
digits ("erupted in 1850" is close to a text that says 1909), so a source
that lacks one of the claim's numbers does not support it. What this cannot
catch: a claim that says the opposite in the same words ("the smallest"
against "the largest") scores high; telling those apart needs an NLI model.
"""

from __future__ import annotations

from capibara6.mcp.knowledge import KnowledgeBase
from capibara6.mcp.lexical import numbers

CONTEXT_OPEN = "[CONTEXTO VERIFICADO]"
CONTEXT_CLOSE = "[/CONTEXTO VERIFICADO]"
VERIFY_CANDIDATES = 5


def augment(knowledge: KnowledgeBase, prompt: str, *, top_k: int, contexts: list[str] | None = None) -> dict:
    settings = knowledge.settings
    hits = [h for h in knowledge.search(prompt, top_k=top_k, contexts=contexts)
            if h.score >= settings.min_score]
    sources = [_source(knowledge, hit) for hit in hits]
    used = list(dict.fromkeys(source["context"] for source in sources))
    augmented = prompt
    if sources:
        lines = [f"- ({source['document']}) {source['text']}" for source in sources]
        augmented = "\n".join([CONTEXT_OPEN, *lines, CONTEXT_CLOSE,
                               "Usa este contexto solo si es pertinente para responder.", "", prompt])
    return {
        "original_prompt": prompt,
        "augmented_prompt": augmented,
        "needs_context": bool(sources),
        "contexts_used": used,
        "contexts_added": len(sources),
        "sources": sources,
        "threshold": settings.min_score,
    }


def verify(knowledge: KnowledgeBase, claim: str) -> dict:
    settings = knowledge.settings
    # The date context holds questions ("¿qué día es hoy?"), not facts: it can't support a claim.
    hits = knowledge.search(claim, top_k=VERIFY_CANDIDATES, with_clock=False)
    claimed = numbers(claim)
    sources, support = [], 0.0
    for hit in hits:
        figures_match = claimed <= numbers(f"{hit.row.heading} {hit.row.text}")
        if figures_match:
            support = max(support, hit.score)
        if hit.score >= settings.min_score:
            sources.append({**_source(knowledge, hit), "figures_match": figures_match,
                            "supports": figures_match and hit.score >= settings.verify_threshold})
    verified = support >= settings.verify_threshold
    if verified:
        reason = "a source supports the claim"
    elif hits and any(not s["figures_match"] for s in sources):
        reason = "the closest sources state other figures than the claim"
    else:
        reason = "no source is close enough to support the claim"
    return {
        "claim": claim,
        "verified": verified,
        "confidence": round(min(1.0, max(0.0, support)), 4),
        "threshold": settings.verify_threshold,
        "reason": reason,
        "sources": sources,
    }


def _source(knowledge: KnowledgeBase, hit) -> dict:
    return {
        "context": hit.row.context,
        "document": hit.row.name,
        "text": knowledge.source_text(hit),
        "score": round(hit.score, 4),
    }
