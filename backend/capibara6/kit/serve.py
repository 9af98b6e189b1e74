"""Serving with waitress, the way systemd expects a service to behave.

- Socket activation: when systemd passes listening sockets (LISTEN_FDS and
  LISTEN_PID naming this process), serve on them; otherwise bind host:port.
- Readiness: READY=1 goes to NOTIFY_SOCKET once the service can serve, that
  is after its warm-up (a model load) ends; STATUS= lines say what it is doing.
  A failed warm-up stops the process: exit 2 when it raised ConfigError (a
  broken model setting, as at start), else 1.
- Watchdog: with WATCHDOG_USEC set, WATCHDOG=1 is sent every half period
  while a real request to our own /health gets an answer, so a wedged server
  loop is restarted by systemd.
- SIGTERM drains: the server stops accepting (with socket activation,
  systemd's copy of the socket keeps queueing new connections for the next
  start), lets the requests it has accepted finish (up to DRAIN_SECONDS),
  closes idle keep-alive connections, then exits. A second SIGTERM stops at
  once. SIGHUP calls the service's reload hook.
"""

from __future__ import annotations

import _thread
import logging
import os
import resource
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import sdnotify
import waitress
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer

from capibara6.kit.app import Runtime
from capibara6.kit.settings import ConfigError
from capibara6.kit.wire import answer_errors_in_json

log = logging.getLogger("capibara6.serve")
SD_LISTEN_FDS_START = 3
# TimeoutStopSec= in deploy/systemd is this plus 10 s (tests/systemd/test_units.py).
DRAIN_SECONDS = 30.0
# A connection accepted this recently may have its request still in flight:
# closing it as "idle" would reset the client, so it gets this long to speak.
IDLE_GRACE_SECONDS = 0.5


def systemd_sockets(environ=os.environ) -> list[socket.socket]:
    """The listening sockets systemd passed to this process, if any."""
    if environ.get("LISTEN_PID") != str(os.getpid()):
        return []
    try:
        count = int(environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return []
    sockets = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        os.set_inheritable(fd, False)
        sockets.append(socket.socket(fileno=fd))
    # Children must not think the sockets are theirs.
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return sockets


class Notifier:
    """sd_notify messages; a no-op when systemd did not ask for them."""

    def __init__(self):
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._notifier = sdnotify.SystemdNotifier() if self.enabled else None

    def send(self, *lines: str) -> None:
        if self._notifier is not None:
            self._notifier.notify("\n".join(lines))


def watchdog_interval(environ=os.environ) -> float | None:
    usec = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000 / 2
    except ValueError:
        return None


def _self_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1" if sock.family == socket.AF_INET else "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/health"


def answers(url: str, timeout: float) -> bool:
    """True when our own server answers /health at all (503 while warming counts)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Drain:
    """Graceful stop of a waitress server: stop accepting, finish, then exit."""

    def __init__(self, server):
        self.server = server
        self.map = server.map if hasattr(server, "map") else server._map
        self.started = threading.Event()

    def _listeners(self):
        return [d for d in list(self.map.values()) if isinstance(d, BaseWSGIServer)]

    def _channels(self):
        return [d for d in list(self.map.values()) if isinstance(d, HTTPChannel)]

    def begin(self) -> None:
        """Called in the main thread (signal handler) between loop iterations."""
        self.started.set()
        for listener in self._listeners():
            # readable() is False from now on: the loop accepts nothing more.
            listener.accepting = False
        threading.Thread(target=self._wait_then_exit, name="drain", daemon=True).start()

    def _wait_then_exit(self) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            busy = False
            for channel in self._channels():
                working = channel.requests or channel.request is not None or channel.total_outbufs_len
                recent = time.time() - channel.last_activity < IDLE_GRACE_SECONDS
                if working or recent:
                    busy = True
                elif not channel.will_close:
                    channel.will_close = True  # the loop closes it on its next pass
            self._wake()
            if not busy:
                break
            time.sleep(0.05)
        else:
            log.warning("drain: requests still running after %.0fs; stopping anyway", DRAIN_SECONDS)
        _thread.interrupt_main()  # run() ends on KeyboardInterrupt, closing the workers
        self._wake()

    def _wake(self) -> None:
        for listener in self._listeners():
            listener.pull_trigger()
            return


# File descriptors a service needs besides its client connections and one upstream connection
# per thread (Ollama, auth): the listening sockets, waitress's wake-up pipe, journald, the
# state files and databases, what the libraries open (models, the index).
FD_RESERVE = 128


def fds_needed(*, threads: int, connection_limit: int) -> int:
    """The open files a service may need at once: every client connection waitress keeps,
    an upstream connection per worker thread (chat's Ollama pool is as large as its
    threads), and FD_RESERVE. LimitNOFILE= in deploy/systemd is above this."""
    return connection_limit + threads + FD_RESERVE


def check_open_files_limit(*, threads: int, connection_limit: int) -> None:
    """Warn at start when the soft RLIMIT_NOFILE is below fds_needed(): past it, accepting a
    connection or opening one to Ollama fails (EMFILE) under load."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = fds_needed(threads=threads, connection_limit=connection_limit)
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning("open files limit %d is below the %d this service may need (%d connections, "
                    "%d threads); raise LimitNOFILE= or lower CAPIBARA6_CONNECTION_LIMIT",
                    soft, needed, connection_limit, threads)


# What nginx sets (capibara6_nginx): the client's address, scheme and host.
TRUSTED_PROXY_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})


def waitress_options(*, threads: int, connection_limit: int = 1000, max_body_bytes: int = 1024 * 1024,
                     trusted_proxy: str = "127.0.0.1") -> dict:
    return dict(
        threads=threads,
        connection_limit=connection_limit,
        # One limit, enforced by waitress before it buffers a body (it refuses a
        # length that reaches this number), answered in JSON by kit/wire.py; Flask's
        # MAX_CONTENT_LENGTH is the same limit for anything else that serves the app.
        max_request_body_size=max_body_bytes + 1,
        ident="capibara6",
        # Streams (SSE) leave as each token is written: waitress sends at once by
        # default (its deprecated send_bytes is 1), so there is nothing to set.
        # The proxy's X-Forwarded-* become REMOTE_ADDR, the scheme and the
        # host (logs, auth's redirects); from any other peer they are removed.
        trusted_proxy=trusted_proxy,
        trusted_proxy_headers=TRUSTED_PROXY_HEADERS,
        trusted_proxy_count=1,
        clear_untrusted_proxy_headers=True,
        channel_timeout=300,
        # poll(), not select(): select() cannot watch a descriptor numbered 1024 or more, and
        # connection_limit connections plus an Ollama connection per thread pass that.
        asyncore_use_poll=True,
    )


def serve(app, runtime: Runtime, *, host: str, port: int, threads: int,
          connection_limit: int = 1000, max_body_bytes: int = 1024 * 1024,
          trusted_proxy: str = "127.0.0.1") -> int:
    notifier = Notifier()
    runtime.send_status = lambda line: notifier.send(f"STATUS={line}")
    passed = systemd_sockets()
    options = waitress_options(threads=threads, connection_limit=connection_limit,
                               max_body_bytes=max_body_bytes, trusted_proxy=trusted_proxy)
    if passed:
        server = waitress.create_server(app, sockets=passed, **options)
        where = ", ".join(f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in passed
                          if s.family in (socket.AF_INET, socket.AF_INET6))
        log.info("serving %s on sockets passed by systemd (%s)", runtime.service, where)
        listen_socket = passed[0]
    else:
        server = waitress.create_server(app, host=host, port=port, **options)
        listen_socket = server.socket if hasattr(server, "socket") else server.effective_listen[0]
        log.info("serving %s on http://%s:%s", runtime.service, host, server.effective_port)

    answer_errors_in_json(server)
    check_open_files_limit(threads=threads, connection_limit=connection_limit)
    warmup_failures: list[Exception] = []

    def warm_up_then_ready():
        notifier.send(f"STATUS={runtime.service}: {runtime.not_ready_reason}")
        started = time.monotonic()
        try:
            runtime.run_warmup()
        except Exception as exc:
            warmup_failures.append(exc)
            if isinstance(exc, ConfigError):  # e.g. a broken model: the same line and status as at start
                log.error("capibara6 %s: configuration error: %s", runtime.service, exc)
            else:
                log.error("warm-up failed: %s", exc)
            notifier.send(f"STATUS=warm-up failed: {exc}")
            # Stop the whole process with a failure status: systemd's Restart= takes it from here.
            os.kill(os.getpid(), signal.SIGTERM)
            return
        log.info("ready after %.1fs: %s", time.monotonic() - started, runtime.status_line())
        notifier.send("READY=1", f"STATUS={runtime.status_line()}")

    def watchdog(interval: float, url: str):
        while True:
            time.sleep(interval)
            if answers(url, timeout=max(interval, 1.0)):
                notifier.send("WATCHDOG=1", f"STATUS={runtime.status_line()}")
            else:
                log.warning("watchdog: /health did not answer; not pinging systemd")

    drain = Drain(server)

    def on_term(signum, frame):
        if drain.started.is_set():
            log.info("second signal %d: stopping now", signum)
            raise SystemExit(0)
        notifier.send("STOPPING=1", "STATUS=stopping: finishing the requests in flight")
        log.info("stopping on signal %d: draining", signum)
        drain.begin()

    def on_hup(signum, frame):
        if runtime.reload is None:
            log.info("SIGHUP: nothing to reload for %s", runtime.service)
            return
        def reload():
            notifier.send("RELOADING=1", "STATUS=reloading")
            try:
                runtime.reload()
                log.info("reloaded")
            except Exception as exc:
                log.error("reload failed: %s", exc)
            notifier.send("READY=1", f"STATUS={runtime.status_line()}")
        threading.Thread(target=reload, name="reload", daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)

    threading.Thread(target=warm_up_then_ready, name="warm-up", daemon=True).start()
    interval = watchdog_interval()
    if interval:
        threading.Thread(target=watchdog, args=(interval, _self_url(listen_socket)),
                         name="watchdog", daemon=True).start()
    try:
        server.run()  # returns on SystemExit/KeyboardInterrupt after closing the workers
    except (SystemExit, KeyboardInterrupt):
        # A warm-up that fails at once can finish the whole drain (SIGTERM, then
        # interrupt_main's SIGINT, which raises SystemExit) before run() has
        # begun: the status below must still say why the process stops.
        pass
    log.info("stopped")
    if warmup_failures:
        return 2 if isinstance(warmup_failures[0], ConfigError) else 1
    return 0
