"""The tools this service offers, as GET /api/mcp/tools lists them for a client or a model."""

from __future__ import annotations

from capibara6.mcp.calculator import CONSTANTS, FUNCTIONS


def catalogue() -> list[dict]:
    return [
        {
            "id": "get_context", "name": "Obtener contexto", "enabled": True,
            "description": "Devuelve un contexto de la base de conocimiento: datos de Capibara6, "
                           "la fecha y hora actual o los documentos indexados.",
            "method": "GET", "endpoint": "/api/mcp/context/<id>",
            "parameters": {"id": "el id de un contexto de GET /api/mcp/contexts"},
        },
        {
            "id": "augment", "name": "Añadir contexto", "enabled": True,
            "description": "Busca en la base de conocimiento lo pertinente para un prompt y lo "
                           "antepone; si nada es pertinente, el prompt queda igual.",
            "method": "POST", "endpoint": "/api/mcp/augment",
            "parameters": {"prompt": "texto (o 'query')", "contexts": "lista opcional de ids",
                           "top_k": "número opcional de fuentes"},
        },
        {
            "id": "calculate", "name": "Calculadora", "enabled": True,
            "description": "Calcula una expresión aritmética con + - * / // % **, paréntesis, "
                           f"las funciones {', '.join(FUNCTIONS)} y las constantes {', '.join(CONSTANTS)}.",
            "method": "POST", "endpoint": "/api/mcp/calculate",
            "parameters": {"expression": "texto, p. ej. '(2 + 3) * sqrt(16)'"},
        },
        {
            "id": "verify_facts", "name": "Verificar hechos", "enabled": True,
            "description": "Dice si una afirmación está respaldada por una fuente de la base de "
                           "conocimiento, con una confianza y las fuentes.",
            "method": "POST", "endpoint": "/api/mcp/verify",
            "parameters": {"claim": "texto de la afirmación"},
        },
    ]
