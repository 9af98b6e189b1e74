"""Start-up behaviour: help, and bad settings stop a service with one line and status 2."""

import subprocess
import sys

import pytest

from capibara6.kit.settings import ConfigError, Env

ROOT_ENV = {"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}


def run(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "capibara6", *args], capture_output=True, text=True,
                          env={**ROOT_ENV, **(env or {})}, timeout=60, cwd=cwd)


def test_serve_help_lists_every_service():
    result = run("serve", "--help")
    assert result.returncode == 0
    for name, port in [("chat", 5001), ("tts", 5002), ("mcp", 5003), ("auth", 5004), ("consensus", 5005)]:
        assert f"{name}" in result.stdout and f"port {port}" in result.stdout


def test_unknown_service_is_refused():
    result = run("serve", "nope")
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.parametrize("env, needle", [
    ({"OLLAMA_URL": "not a url"}, "OLLAMA_URL"),
    ({"OLLAMA_TIMEOUT": "soon"}, "OLLAMA_TIMEOUT"),
    ({"CAPIBARA6_THREADS": "0"}, "CAPIBARA6_THREADS"),
    ({"CAPIBARA6_CORS_ORIGINS": "*"}, "CAPIBARA6_CORS_ORIGINS"),
    ({"CAPIBARA6_REQUIRE_AUTH": "maybe"}, "CAPIBARA6_REQUIRE_AUTH"),
    ({"CAPIBARA6_REQUIRE_AUTH": "1"}, "JWT_SECRET"),
    ({"CAPIBARA6_REQUIRE_AUTH": "1", "JWT_SECRET": "short"}, "JWT_SECRET"),
    ({"CAPIBARA6_ENV_FILE": "/nonexistent/capibara6.env"}, "CAPIBARA6_ENV_FILE"),
])
def test_bad_settings_stop_with_one_line_and_status_2(tmp_path, env, needle):
    result = run("serve", "chat", env={"CAPIBARA6_STATE_DIR": str(tmp_path), **env})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0] and "Traceback" not in result.stderr
    assert "short" not in lines[0]  # a secret's value is never echoed


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / "chat.env"
    env_file.write_text("OLLAMA_MODEL=desde-el-archivo\nOLLAMA_URL=http://ollama.internal:11434\n")
    env = Env({"CAPIBARA6_ENV_FILE": str(env_file), "OLLAMA_URL": "http://127.0.0.1:9"})
    assert env.str("OLLAMA_MODEL") == "desde-el-archivo"
    assert env.url("OLLAMA_URL") == "http://127.0.0.1:9"


def test_dot_env_in_the_working_directory(tmp_path):
    (tmp_path / ".env").write_text("OLLAMA_TIMEOUT=nunca\n")
    result = run("serve", "chat", env={"CAPIBARA6_STATE_DIR": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 2 and "OLLAMA_TIMEOUT" in result.stderr


def test_typed_readers_reject_bad_values():
    env = Env({"N": "3", "F": "x", "B": "yes", "L": "a, b,,c"})
    assert env.int("N", 1, minimum=1) == 3 and env.bool("B", False) is True
    assert env.list("L") == ("a", "b", "c")
    with pytest.raises(ConfigError, match="F: expected a number"):
        env.float("F", 1.0)
    with pytest.raises(ConfigError, match="at most 2"):
        env.int("N", 1, maximum=2)


def test_the_token_guard_takes_its_settings_from_the_environ_the_app_is_built_with(tmp_path):
    from capibara6.chat import create_app

    app = create_app({"CAPIBARA6_REQUIRE_AUTH": "1", "JWT_SECRET": "s" * 32,
                      "CAPIBARA6_AUTH_URL": "http://auth.internal:5004",
                      "CAPIBARA6_STATE_DIR": str(tmp_path)})
    guard = app.extensions["capibara6.auth.guard"]
    assert guard.verify_url == "http://auth.internal:5004/auth/verify"
    with pytest.raises(ConfigError, match="CAPIBARA6_AUTH_URL"):
        create_app({"CAPIBARA6_REQUIRE_AUTH": "1", "JWT_SECRET": "s" * 32,
                    "CAPIBARA6_AUTH_URL": "auth", "CAPIBARA6_STATE_DIR": str(tmp_path)})
