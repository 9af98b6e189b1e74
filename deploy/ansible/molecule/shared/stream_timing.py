"""Reads a server-sent event stream and prints, as JSON, when each data line
arrived (seconds after the request): a buffered stream arrives all at once.

    python3 stream_timing.py URL [JSON-BODY]   (a body: POSTed as JSON)

Standard library only: it runs on the controller and on the test hosts."""

import json
import ssl
import sys
import time
import urllib.request

started = time.monotonic()
arrivals = []
# The test host's certificate is self-signed.
context = ssl._create_unverified_context()  # noqa: S323
body = sys.argv[2].encode() if len(sys.argv) > 2 else None
request = urllib.request.Request(sys.argv[1], data=body, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=30, context=context) as response:
    headers = dict(response.headers)
    for line in response:
        if line.startswith(b"data:"):
            arrivals.append(round(time.monotonic() - started, 3))
print(json.dumps({"arrivals": arrivals, "headers": headers}))
