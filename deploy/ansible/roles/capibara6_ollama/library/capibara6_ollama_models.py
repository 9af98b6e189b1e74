#!/usr/bin/python3
"""Ansible module of the capibara6_ollama role: Ollama's models, through its HTTP API.

Pulls each missing model (POST /api/pull, streamed: progress goes to the
host's journal as it comes, identifier capibara6-ollama-models, and into
the result), imports GGUF files
(/api/blobs/sha256:<digest> + /api/create; redone only when the file's digest
or its Modelfile settings change, kept in a marker per model), then asks every
model for one token (/api/generate) and fails naming the model and Ollama's
error when one does not answer. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import syslog
import urllib.error
import urllib.parse
import urllib.request

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: capibara6_ollama_models
short_description: Pull, import (GGUF) and check Ollama's models through its API
description: Used by the capibara6_ollama role; see its README.
options:
  url: {type: str, required: true, description: "Ollama's base URL, e.g. http://10.0.0.5:11434"}
  pull: {type: list, elements: str, default: [], description: Models to pull when /api/tags lacks them.}
  imports: {type: list, elements: dict, default: [], description: "GGUF imports: name, path, template, system, parameters."}
  marker_dir: {type: path, required: true, description: Where each import's digest is kept.}
  timeout: {type: int, default: 600, description: Seconds without data from Ollama before giving up.}
author: Capibara6
"""


class OllamaError(Exception):
    pass


def full_name(name: str) -> str:
    """Ollama's canonical name: ":latest" when no tag is given."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


class Ollama:
    def __init__(self, url: str, timeout: int):
        self.url, self.timeout = url.rstrip("/"), timeout

    def open(self, method: str, path: str, body=None, headers=None):
        if isinstance(body, dict):
            body, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            if method == "HEAD":
                return error
            raise OllamaError(f"HTTP {error.code}: {error_of(error.read())}") from None
        except OSError as error:
            raise OllamaError(f"cannot reach Ollama at {self.url}: {error}") from None

    def call(self, method: str, path: str, body=None) -> dict:
        with self.open(method, path, body) as reply:
            return json.loads(reply.read() or b"{}")

    def stream(self, path: str, body: dict):
        """The NDJSON lines of a streamed answer; an {"error": ...} line raises."""
        with self.open("POST", path, dict(body, stream=True)) as reply:
            for raw in reply:
                if raw.strip():
                    line = json.loads(raw)
                    if line.get("error"):
                        raise OllamaError(line["error"])
                    yield line


def error_of(raw: bytes) -> str:
    try:
        return json.loads(raw)["error"]
    except (ValueError, KeyError, TypeError):
        return raw.decode(errors="replace").strip() or "no error message"


def pull(ollama: Ollama, name: str, log) -> list[str]:
    """Pull one model; the progress lines worth showing (each status, each 10%)."""
    shown, last = [], None
    for line in ollama.stream("/api/pull", {"model": name}):
        status, total = line.get("status", ""), line.get("total")
        text = status
        if total:
            percent = 100 * line.get("completed", 0) // total
            text = f"{status} {percent // 10 * 10}% of {total / 1e9:.2f} GB"
        if text != last:
            last = text
            shown.append(f"{name}: {text}")
            log(shown[-1])
    return shown


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as gguf:
        for block in iter(lambda: gguf.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def import_gguf(ollama: Ollama, spec: dict, digest: str) -> None:
    """Upload the GGUF unless Ollama has the blob, then create the model from it."""
    with ollama.open("HEAD", f"/api/blobs/{digest}") as head:
        present = head.status == 200
    if not present:
        with open(spec["path"], "rb") as gguf:
            headers = {"Content-Length": str(os.fstat(gguf.fileno()).st_size)}
            ollama.open("POST", f"/api/blobs/{digest}", gguf, headers).close()
    body = {"model": spec["name"], "files": {os.path.basename(spec["path"]): digest}}
    body.update({key: spec[key] for key in ("template", "system", "parameters") if spec.get(key)})
    for _line in ollama.stream("/api/create", body):
        pass


def answers(ollama: Ollama, name: str) -> None:
    ollama.call("POST", "/api/generate", {"model": name, "prompt": "Hola", "stream": False,
                                          "options": {"num_predict": 1}})


def main() -> None:
    module = AnsibleModule(
        argument_spec={"url": {"type": "str", "required": True},
                       "pull": {"type": "list", "elements": "str", "default": []},
                       "imports": {"type": "list", "elements": "dict", "default": []},
                       "marker_dir": {"type": "path", "required": True},
                       "timeout": {"type": "int", "default": 600}},
        supports_check_mode=True)
    params = module.params
    ollama = Ollama(params["url"], params["timeout"])
    # Progress lines go to the journal as they come: journalctl -f -t capibara6-ollama-models
    syslog.openlog("capibara6-ollama-models", 0, syslog.LOG_DAEMON)
    result = {"changed": False, "pulled": [], "imported": [], "progress": []}
    step = "reading /api/tags"
    try:
        try:
            tags = {m["name"] for m in ollama.call("GET", "/api/tags").get("models", [])}
        except OllamaError:
            if not module.check_mode:
                raise
            tags = set()   # --check on a host where Ollama is not running yet: all would change
        for name in params["pull"]:
            if full_name(name) not in tags:
                step = f"pulling {name}"
                if not module.check_mode:
                    result["progress"] += pull(ollama, name, lambda line: syslog.syslog(syslog.LOG_INFO, line))
                result["pulled"].append(name)
        for spec in params["imports"]:
            step = f"importing {spec['name']} from {spec['path']}"
            if not os.path.isfile(spec["path"]):
                raise OllamaError("no such file on the Ollama host")
            digest = sha256_of(spec["path"])
            wanted = json.dumps([digest, spec.get("template"), spec.get("system"), spec.get("parameters")],
                                sort_keys=True)
            marker = os.path.join(params["marker_dir"], urllib.parse.quote(full_name(spec["name"]), safe=""))
            have = open(marker).read() if os.path.exists(marker) else None
            if full_name(spec["name"]) in tags and have == wanted:
                continue
            if not module.check_mode:
                import_gguf(ollama, spec, digest)
                os.makedirs(params["marker_dir"], mode=0o700, exist_ok=True)
                with open(marker, "w") as out:
                    out.write(wanted)
                result["progress"].append(f"{spec['name']}: created from {spec['path']} ({digest})")
            result["imported"].append(spec["name"])
        result["changed"] = bool(result["pulled"] or result["imported"])
        if not module.check_mode:
            for name in params["pull"] + [spec["name"] for spec in params["imports"]]:
                step = f"asking {name} for one token"
                answers(ollama, name)
    except OllamaError as error:
        where = re.sub(r"^asking (\S+) for one token$", r"model \1 did not answer a one-token /api/generate", step)
        module.fail_json(msg=f"Ollama ({params['url']}): {where}: {error}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
