"""Several GPU VMs as one service: real services under waitress sharing one real PostgreSQL.

Each "VM" is a chat and an auth process with its own state directory and the
same CAPIBARA6_DATABASE_URL, as site.yml deploys them.
"""

from __future__ import annotations

import threading
import time

import psycopg
import requests

from capibara6.chat.conversations import SCHEMA, SQLITE_FILE, ConversationStore
from capibara6.kit.auth import Identity, TokenCodec
from capibara6.kit.storage import StorageSettings, open_database
from tests.processes import ServiceProcess

JWT_SECRET = "jwt-secret-for-storage-tests-0123456789"
CACHE_SECONDS = 2


def vm_env(tmp_path, vm: str, database_url: str, **extra) -> dict:
    return {"CAPIBARA6_DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET,
            "CAPIBARA6_STATE_DIR": str(tmp_path / f"{vm}-state"),
            "CAPIBARA6_DATABASE_CONNECT_TIMEOUT": "2", **extra}


def token_for(user: str) -> dict:
    token, _ = TokenCodec(JWT_SECRET).issue(Identity(id=f"github:{user}", provider="github",
                                                     email=f"{user}@example.org", name=user))
    return {"Authorization": f"Bearer {token}"}


def save(chat: ServiceProcess, text: str, headers: dict | None = None) -> requests.Response:
    return requests.post(f"{chat.url}/api/save-conversation", headers=headers or {}, timeout=30,
                         json={"message": text, "response": f"respuesta a {text}"})


def eventually(request, seconds: float = 30) -> requests.Response:
    """The first answer that is not a 503 within seconds (a pool reconnects in its own time)."""
    deadline = time.monotonic() + seconds
    while (reply := request()).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.3)
    return reply


def conversations(database_url: str, tmp_path) -> ConversationStore:
    return ConversationStore(open_database(StorageSettings(tmp_path, database_url), SCHEMA, SQLITE_FILE))


def test_a_logout_on_one_vm_is_refused_on_the_other_and_saves_are_shared(postgres, service, tmp_path):
    url = postgres.create_database()
    auth_a = service("auth", vm_env(tmp_path, "vm-a", url))
    auth_b = service("auth", vm_env(tmp_path, "vm-b", url))
    guarded = {"CAPIBARA6_REQUIRE_AUTH": "true", "CAPIBARA6_AUTH_CACHE_SECONDS": str(CACHE_SECONDS)}
    chat_a = service("chat", vm_env(tmp_path, "vm-a", url, CAPIBARA6_AUTH_URL=auth_a.url, **guarded))
    chat_b = service("chat", vm_env(tmp_path, "vm-b", url, CAPIBARA6_AUTH_URL=auth_b.url, **guarded))
    headers = token_for("ana")

    on_a, on_b = save(chat_a, "hola desde A", headers), save(chat_b, "hola desde B", headers)
    assert on_a.status_code == 200 and on_b.status_code == 200, (on_a.text, on_b.text)
    store = conversations(url, tmp_path)
    try:  # each VM reads what the other saved: one database
        assert store.load(on_a.json()["id"]) == [{"message": "hola desde A",
                                                  "response": "respuesta a hola desde A"}]
        assert store.load(on_b.json()["id"])[0]["message"] == "hola desde B"
        assert store.count() == 2
    finally:
        store.database.close()

    logout = requests.post(f"{auth_a.url}/auth/logout", headers=headers, timeout=10)
    assert logout.status_code == 200, logout.text
    logged_out_at = time.monotonic()
    verify_b = requests.post(f"{auth_b.url}/auth/verify", headers=headers, timeout=10)
    assert verify_b.status_code == 401 and verify_b.json()["code"] == "token_revoked"
    # chat on VM B remembered "not revoked" for at most CACHE_SECONDS, then asks auth B again.
    while True:
        refused = save(chat_b, "después de salir", headers)
        if refused.status_code != 200 or time.monotonic() - logged_out_at > CACHE_SECONDS + 5:
            break
        time.sleep(0.2)
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked", refused.text
    assert time.monotonic() - logged_out_at <= CACHE_SECONDS + 5
    assert save(chat_a, "después de salir", headers).status_code == 401


def test_concurrent_first_starts_create_the_schema_once(postgres, tmp_path):
    url = postgres.create_database()
    vms = [ServiceProcess("chat", vm_env(tmp_path, vm, url), tmp_path) for vm in ("vm-a", "vm-b")]
    threads = [threading.Thread(target=vm.start) for vm in vms]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(vm.proc.poll() is None for vm in vms)
        logs = "".join(vm.log() for vm in vms)
        assert logs.count("applied migration 1 of chat.conversations") == 1, logs
        with psycopg.connect(url) as db:
            assert db.execute("SELECT component, version FROM capibara6_schema").fetchall() == [
                ("chat.conversations", 1)]
        assert all(save(vm, f"hola {vm.port}").status_code == 200 for vm in vms)
    finally:
        for vm in vms:
            vm.stop()


def test_postgres_down_is_503_and_degraded_then_back_with_nothing_lost(own_postgres, service, tmp_path):
    url = own_postgres.create_database()
    chat = service("chat", vm_env(tmp_path, "vm-a", url))
    auth = service("auth", vm_env(tmp_path, "vm-a", url))
    headers = token_for("bea")
    acknowledged = [save(chat, f"mensaje {i}").json()["id"] for i in range(5)]

    own_postgres.stop()
    refused = save(chat, "con la base caída")
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "storage_unavailable" and "storage" in refused.json()["error"]
    health = requests.get(f"{chat.url}/health", timeout=10).json()
    assert health["status"] == "degraded" and health["checks"]["storage"]["status"] == "error"
    assert health["checks"]["storage"]["backend"] == "postgresql"
    assert f":{own_postgres.port}/" in health["checks"]["storage"]["where"]
    verify = requests.post(f"{auth.url}/auth/verify", headers=headers, timeout=10)
    assert verify.status_code == 503 and verify.json()["code"] == "storage_unavailable"
    assert requests.get(f"{auth.url}/health", timeout=10).json()["checks"]["storage"]["status"] == "error"
    # A VM that boots while the database is down starts degraded and migrates once it is back.
    late = service("chat", vm_env(tmp_path, "vm-b", url))
    assert requests.get(f"{late.url}/health", timeout=10).json()["checks"]["storage"]["status"] == "error"
    assert "Traceback" not in chat.log() + auth.log() + late.log()

    own_postgres.start()
    back_at = time.monotonic()
    assert eventually(lambda: save(chat, "de vuelta")).status_code == 200
    assert eventually(lambda: requests.post(f"{auth.url}/auth/verify", headers=headers,
                                            timeout=10)).status_code == 200
    assert eventually(lambda: save(late, "arrancó sin base")).status_code == 200
    print(f"all serving again {time.monotonic() - back_at:.1f} s after PostgreSQL was back")
    assert requests.get(f"{chat.url}/health", timeout=10).json()["checks"]["storage"]["status"] == "ok"
    store = conversations(url, tmp_path)
    try:
        assert [store.load(i)[0]["message"] for i in acknowledged] == [f"mensaje {i}" for i in range(5)]
        assert store.count() == 7
    finally:
        store.database.close()
