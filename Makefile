# Thin wrappers; the scripts hold the logic.
.PHONY: demo demo-down serve-chat serve-web test bench bench-mcp bench-rolling lint docs

# The local deployment: two Debian 12 hosts with systemd (podman), site.yml
# against them, then where each service's /health answers.
demo:
	scripts/demo

demo-down:
	scripts/demo-down

# Just the chat gateway, as a plain process on http://127.0.0.1:5001
serve-chat:
	scripts/bootstrap
	.venv/bin/capibara6 serve chat

# The page for working on it: web/ on http://127.0.0.1:8000 and the five
# services on 5001-5005, against OLLAMA_URL (scripts/serve-web --fake-ollama
# runs without an Ollama).
serve-web:
	scripts/serve-web

lint:
	scripts/bootstrap
	.venv/bin/yamllint -s .
	.venv/bin/ansible-lint

# docs/: each service's OpenAPI document and API page, and the settings reference, generated
# from the code (tests/contracts/test_docs.py fails when the committed ones differ).
docs:
	scripts/bootstrap
	.venv/bin/capibara6 docs

# The whole test suite; installs what it needs first.
test:
	scripts/test

# Benchmarks print figures and save them in bench/results/ (never pass/fail).
# side_by_side first: the gateway, a direct call and LiteLLM's proxy (installed by the
# script into .cache/bench/litellm-venv) in one table, and bench/results/side_by_side.png.
bench:
	scripts/bootstrap
	.venv/bin/pip install --quiet -r bench/requirements-bench.txt
	.venv/bin/python -m bench.side_by_side
	.venv/bin/python -m bench.consensus
	.venv/bin/python -m bench.tts
	.venv/bin/python -m bench.storage

# Builds a 10,000-piece index from nothing: tens of minutes on 2 cores.
bench-mcp:
	scripts/bootstrap
	.venv/bin/python -m bench.mcp

# Times rolling-restart.yml on one podman host with the five services (root;
# the first deploy installs torch for mcp, so it takes minutes).
bench-rolling:
	scripts/bootstrap
	.venv/bin/python -m bench.rolling_restart
