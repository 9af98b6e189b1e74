# Thin wrappers; the scripts hold the logic.
.PHONY: demo test bench lint

# Start the chat gateway locally on http://127.0.0.1:5001
demo:
	scripts/bootstrap
	.venv/bin/capibara6 serve chat

# The whole test suite; installs what it needs first.
test:
	scripts/test

bench:
	scripts/bootstrap
	.venv/bin/python bench/chat_gateway.py
