"""How long deploy/ansible/rolling-restart.yml takes on one host.

Boots one Debian 12 host with systemd as PID 1 (deploy/testbed, podman, as
root), deploys it with site.yml (the five services of group_vars by default,
with the models extra that mcp needs: torch and the rest, so the first run is
long), then times RUNS runs of rolling-restart.yml from the controller: every
service restarted one at a time and gated on /health. Saves
bench/results/rolling_restart.json; figures, never pass/fail.

    .venv/bin/python -m bench.rolling_restart [--services "chat tts auth consensus"] [--runs 3] [--keep]

--services narrows the host's services (without mcp no extra is installed).
The host is c6-bench-rolling (removed at the end unless --keep); no Ollama
host: chat's /health then reports Ollama down as "degraded", still 200.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time

from bench._common import ROOT, save

sys.path.insert(0, str(ROOT / "deploy" / "testbed"))
from testbed import Host  # noqa: E402

ANSIBLE = ROOT / "deploy" / "ansible"
STATE = ROOT / ".cache" / "bench-rolling"
HOST = "c6-bench-rolling"


def playbook(name: str) -> float:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), NO_COLOR="1", ANSIBLE_FORCE_COLOR="0")
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(STATE / "inventory.ini"),
                           str(ANSIBLE / name)], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    (STATE / f"{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed; see {STATE / (name + '.log')}:\n{proc.stdout[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", default="", help="space-separated; default: group_vars' five")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the host running")
    args = parser.parse_args()
    services = args.services.split()

    subprocess.run([str(ROOT / "deploy" / "testbed" / "build-image.sh")], check=True)
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "inventory.ini").write_text(f"[gpu_vm]\n{HOST}\n\n[ollama_host]\n\n[capibara6:children]\ngpu_vm\n")
    (STATE / "host_vars").mkdir(exist_ok=True)
    host_vars = [
        "---",
        "ansible_connection: podman_pipelined",
        "capibara6_ollama_url: http://127.0.0.1:11434",
        # A throwaway container: plain random secrets, no vault.
        f"vault_capibara6_jwt_secret: {secrets.token_urlsafe(48)}",
        f"vault_capibara6_secret_key: {secrets.token_urlsafe(48)}",
    ]
    if services:
        host_vars += [f"capibara6_services: [{', '.join(services)}]",
                      f"capibara6_app_extras: {'[models]' if 'mcp' in services else '[]'}"]
    (STATE / "host_vars" / f"{HOST}.yml").write_text("\n".join(host_vars) + "\n")

    host = Host.start(HOST)
    try:
        deploy = playbook("site.yml")
        print(f"site.yml (first deploy): {deploy:.0f} s")
        runs, loads = [], []
        for index in range(args.runs):
            loads.append(round(os.getloadavg()[0], 1))  # the machine is shared: say how busy it was
            runs.append(playbook("rolling-restart.yml"))
            print(f"rolling-restart.yml run {index + 1}: {runs[-1]:.1f} s (load average before: {loads[-1]})")
    finally:
        if not args.keep:
            host.remove()
    save("rolling_restart", {
        "what": "ansible-playbook rolling-restart.yml on one host: each service restarted in turn, "
                "gated on GET /health 200",
        "services": services or "group_vars (chat, tts, mcp, auth, consensus)",
        "connection": "podman_pipelined (a local container; SSH to a VM adds its round trips)",
        "figures": {"median_s": round(statistics.median(runs), 1), "min_s": round(min(runs), 1),
                    "max_s": round(max(runs), 1), "runs": len(runs),
                    "first_deploy_s": round(deploy, 1), "load_average_before_each_run": loads},
    })


if __name__ == "__main__":
    main()
