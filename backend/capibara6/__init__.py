"""Capibara6: the backend services of a Spanish-first AI assistant."""

__version__ = "0.1.0"
