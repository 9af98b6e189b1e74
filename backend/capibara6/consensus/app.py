"""Routes of the consensus service (port 5005). Logic lives in engine.py; bodies in contracts.py.

/api/consensus/health is the kit's /health under its old path (see __init__.py).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from capibara6.consensus import contracts
from capibara6.consensus.engine import Consensus
from capibara6.kit.contract import operation

bp = Blueprint("consensus", __name__)


def _consensus() -> Consensus:
    return current_app.extensions["capibara6.consensus"]


@bp.post("/api/consensus/query")
@operation("Ask several models in parallel and combine their answers", body=contracts.QueryBody,
           context=lambda: _consensus().limits(), ok=contracts.QueryReply, errors=(404, 502, 503, 504))
def query(body: contracts.QueryBody):
    return jsonify(_consensus().query(body))


@bp.get("/api/consensus/models")
@operation("The configured models and defaults", ok=contracts.ModelsReply)
def models():
    return jsonify(_consensus().describe_models())


@bp.get("/api/consensus/templates")
@operation("The prompt templates", ok=contracts.TemplatesReply)
def templates():
    return jsonify(_consensus().describe_templates())


@bp.get("/api/consensus/config")
@operation("The configuration in use (no secrets in it)", ok=contracts.ConfigReply)
def config():
    return jsonify(_consensus().describe_config())
