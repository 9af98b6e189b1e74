"""Routes of the consensus service (port 5005). Logic lives in engine.py.

/api/consensus/health is the kit's /health under its old path (see __init__.py).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from capibara6.consensus.engine import Consensus
from capibara6.kit import validation

bp = Blueprint("consensus", __name__)


def _consensus() -> Consensus:
    return current_app.extensions["capibara6.consensus"]


@bp.post("/api/consensus/query")
def query():
    return jsonify(_consensus().query(validation.json_object(request)))


@bp.get("/api/consensus/models")
def models():
    return jsonify(_consensus().describe_models())


@bp.get("/api/consensus/templates")
def templates():
    return jsonify(_consensus().describe_templates())


@bp.get("/api/consensus/config")
def config():
    return jsonify(_consensus().describe_config())
