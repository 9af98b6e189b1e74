"""Run Debian 12 "hosts" with systemd as PID 1 in podman containers.

Interface (stable; tests/systemd uses it, molecule scenarios may too):

    python3 deploy/testbed/testbed.py start NAME [--image IMG] [--network NET]
    python3 deploy/testbed/testbed.py rm NAME

    from testbed import Host
    host = Host.start("c6-test", image="localhost/capibara6-debian12")
    host.run("systemctl", "is-active", "dbus")   # -> CompletedProcess, check=True
    host.sh("echo hi | cat")                     # the same through `sh -c`
    host.copy_in("/local/dir", "/tmp/dir")
    host.remove()

`start` runs the image built by build-image.sh the way systemd as PID 1
needs it here (DESIGN.md, machine facts): `--systemd=always` (tmpfs on /run,
/tmp, cgroup mounts), the image's /sbin/init, and two capabilities that PID 1
has on a real host but podman does not grant by default:
  SYS_ADMIN   without it hardened units fail with 226/NAMESPACE;
  SYS_PTRACE  without it PrivateUsers=yes with ProtectProc=invisible fails
              with 217/USER ("Failed to set up user namespacing: No such file
              or directory": systemd cannot see /proc/PID/uid_map).
Then it waits for
`systemctl is-system-running --wait` and raises if the state is not
"running" (the image masks the units that would fail in a container), naming
the failed units. Any container of the same name is removed first.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time

DEFAULT_IMAGE = "localhost/capibara6-debian12"
CAPABILITIES = ("--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE")


class TestbedError(RuntimeError):
    pass


def podman(*args: str, check: bool = True, timeout: float | None = 120,
           input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True,
                          timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise TestbedError(f"podman {shlex.join(args)} failed ({proc.returncode}): "
                           f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


class Host:
    """One running container with systemd as PID 1."""

    def __init__(self, name: str):
        self.name = name

    @classmethod
    def start(cls, name: str, image: str = DEFAULT_IMAGE, network: str | None = None,
              extra_args: tuple[str, ...] = (), boot_timeout: float = 90) -> "Host":
        podman("rm", "--force", "--time", "0", name, check=False)
        args = ["run", "--detach", "--name", name, "--hostname", name,
                "--systemd=always", *CAPABILITIES]
        if network:
            args += ["--network", network]
        podman(*args, *extra_args, image)
        host = cls(name)
        host.wait_until_booted(boot_timeout)
        return host

    def wait_until_booted(self, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            # is-system-running --wait needs the bus; right after `run` it may not be up yet.
            proc = self.run("timeout", str(max(1, int(deadline - time.monotonic()))),
                            "systemctl", "is-system-running", "--wait", check=False)
            state = proc.stdout.strip()
            if state in ("running", "degraded", "maintenance", "stopping"):
                break
            time.sleep(0.2)
        if state != "running":
            failed = self.run("systemctl", "--failed", "--no-legend", "--plain", check=False)
            raise TestbedError(f"{self.name}: system state {state or 'unknown'!r} after boot; "
                               f"failed units: {failed.stdout.strip() or 'none'}")
        return state

    def run(self, *cmd: str, check: bool = True, timeout: float | None = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
        args = ["exec"] + (["--interactive"] if input is not None else []) + [self.name, *cmd]
        proc = podman(*args, check=False, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise TestbedError(f"{self.name}: {shlex.join(cmd)} failed ({proc.returncode}):\n"
                               f"{proc.stdout}{proc.stderr}")
        return proc

    def sh(self, script: str, **kw) -> subprocess.CompletedProcess:
        return self.run("sh", "-c", script, **kw)

    def python(self, code: str, *args: str, **kw) -> subprocess.CompletedProcess:
        """Run a Python program (text) with the host's python3, arguments after it."""
        return self.run("python3", "-c", code, *args, **kw)

    def copy_in(self, src: str, dest: str) -> None:
        podman("cp", src, f"{self.name}:{dest}")

    def remove(self) -> None:
        podman("rm", "--force", "--time", "10", self.name, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a systemd container and wait for it to boot")
    start.add_argument("name")
    start.add_argument("--image", default=DEFAULT_IMAGE)
    start.add_argument("--network")
    rm = sub.add_parser("rm", help="remove a container")
    rm.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            Host.start(args.name, image=args.image, network=args.network)
            print(f"{args.name}: running")
        else:
            Host(args.name).remove()
    except TestbedError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
