"""Saved conversations and token checks on each storage backend, through real services.

Prints (and saves in bench/results/storage.json), for chat's
POST /api/save-conversation and auth's POST /auth/verify (a revocation lookup):
latency p50/p99 one request at a time, and requests per second from 8 clients,
on SQLite (one VM), on PostgreSQL (one VM), and on PostgreSQL shared by two
chat processes (two VMs, the clients split between them). PostgreSQL is
Debian's, started like the tests do (tests/storage/postgres.py), on loopback:
a real network adds its round trip to each figure.

    .venv/bin/python -m bench.storage [--requests 300] [--clients 8]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time

import requests

from bench._common import PYTHON, free_port, percentile, save, start

from capibara6.kit.auth import Identity, TokenCodec
from tests.storage.postgres import PostgresServer

JWT_SECRET = "bench-jwt-secret-0123456789abcdefghij"
BODY = {"message": "¿Qué come un capibara?", "response": "Sobre todo hierba y plantas acuáticas."}


def serve(service: str, env: dict) -> tuple[str, object]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start([PYTHON, "-m", "capibara6", "serve", service, "--port", str(port)], f"{url}/health",
                 env={"CAPIBARA6_STATE_DIR": tempfile.mkdtemp(prefix=f"bench-{service}-"),
                      "JWT_SECRET": JWT_SECRET, **env})
    return url, proc


def one_at_a_time(url: str, count: int, **request) -> dict:
    session, times = requests.Session(), []
    for _ in range(count):
        started = time.perf_counter()
        session.post(url, timeout=30, **request).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(percentile(times, 50), 2), "p99_ms": round(percentile(times, 99), 2)}


def throughput(urls: list[str], clients: int, count: int, **request) -> float:
    def client(url):
        session = requests.Session()
        for _ in range(count):
            session.post(url, timeout=30, **request).raise_for_status()

    threads = [threading.Thread(target=client, args=(urls[i % len(urls)],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return round(clients * count / (time.perf_counter() - started), 1)


def measure(chat_urls: list[str], auth_url: str, args) -> dict:
    token, _ = TokenCodec(JWT_SECRET).issue(Identity(id="github:bench", provider="github"))
    verify = {"headers": {"Authorization": f"Bearer {token}"}}
    saves = [f"{url}/api/save-conversation" for url in chat_urls]
    return {
        "save": one_at_a_time(saves[0], args.requests, json=BODY),
        "saves_per_s": throughput(saves, args.clients, args.requests // args.clients, json=BODY),
        "verify": one_at_a_time(f"{auth_url}/auth/verify", args.requests, **verify),
        "verifies_per_s": throughput([f"{auth_url}/auth/verify"], args.clients,
                                     args.requests // args.clients, **verify),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    postgres = PostgresServer().init()
    procs = []
    try:
        figures = {}
        setups = {"sqlite": ({}, 1), "postgresql": ({"CAPIBARA6_DATABASE_URL": None}, 1),
                  "postgresql_two_vms": ({"CAPIBARA6_DATABASE_URL": None}, 2)}
        for name, (env, vms) in setups.items():
            if "CAPIBARA6_DATABASE_URL" in env:
                env = {"CAPIBARA6_DATABASE_URL": postgres.create_database()}
            chats = [serve("chat", env) for _ in range(vms)]
            auth = serve("auth", env)
            procs += [proc for _, proc in chats] + [auth[1]]
            figures[name] = measure([url for url, _ in chats], auth[0], args)
            print(name, figures[name])
        save("storage", {"requests": args.requests, "clients": args.clients, **figures})
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
        postgres.close()


if __name__ == "__main__":
    main()
