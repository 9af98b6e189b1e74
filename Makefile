# Thin wrappers; the scripts hold the logic.
.PHONY: demo test bench bench-mcp lint

# Start the chat gateway locally on http://127.0.0.1:5001
demo:
	scripts/bootstrap
	.venv/bin/capibara6 serve chat

# The whole test suite; installs what it needs first.
test:
	scripts/test

# Benchmarks print figures and save them in bench/results/ (never pass/fail).
bench:
	scripts/bootstrap
	.venv/bin/python bench/chat_gateway.py
	.venv/bin/python bench/consensus.py
	.venv/bin/python bench/tts.py

# Builds a 10,000-piece index from nothing: tens of minutes on 2 cores.
bench-mcp:
	scripts/bootstrap
	.venv/bin/python bench/mcp.py
