# Thin wrappers; the scripts hold the logic.
.PHONY: demo demo-down serve-chat test bench bench-mcp bench-rolling lint

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

lint:
	scripts/bootstrap
	.venv/bin/yamllint -s .
	.venv/bin/ansible-lint

# The whole test suite; installs what it needs first.
test:
	scripts/test

# Benchmarks print figures and save them in bench/results/ (never pass/fail).
bench:
	scripts/bootstrap
	.venv/bin/python bench/chat_gateway.py
	.venv/bin/python bench/consensus.py
	.venv/bin/python bench/tts.py
	.venv/bin/python bench/storage.py

# Builds a 10,000-piece index from nothing: tens of minutes on 2 cores.
bench-mcp:
	scripts/bootstrap
	.venv/bin/python bench/mcp.py

# Times rolling-restart.yml on one podman host with the five services (root;
# the first deploy installs torch for mcp, so it takes minutes).
bench-rolling:
	scripts/bootstrap
	.venv/bin/python bench/rolling_restart.py
