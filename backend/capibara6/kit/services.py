"""The five services, their fixed ports and where their code lives.

Ports here are the defaults for local runs; deployments set them in
deploy/ansible/group_vars (a test checks the two agree).
"""

SERVICES: dict[str, int] = {
    "chat": 5001,
    "tts": 5002,
    "mcp": 5003,
    "auth": 5004,
    "consensus": 5005,
}

DESCRIPTIONS: dict[str, str] = {
    "chat": "chat gateway to Ollama (streaming, model list, saved conversations, OpenAI API)",
    "tts": "text to speech (transformers on the GPU, piper or espeak-ng on the CPU)",
    "mcp": "context & RAG: retrieval-augmented prompts, calculator, fact verification",
    "auth": "login with GitHub, Google or any OIDC provider; JWT sessions",
    "consensus": "ask several models in parallel and combine their answers",
}


def unit_name(service: str) -> str:
    return f"capibara6-{service}"
