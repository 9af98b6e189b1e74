"""The service kit: what every Capibara6 service shares.

settings   environment + .env, validated, one clear line on bad config
app        the Flask application factory (errors, CORS, request ids, logs, health, metrics)
serve      waitress on a host/port or on a socket passed by systemd, with sd_notify
validation small readers for JSON request fields that raise 400s with clear messages
"""
