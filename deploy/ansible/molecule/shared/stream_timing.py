"""Reads a server-sent event stream and prints, as JSON, when each data line
arrived (seconds after the request): a buffered stream arrives all at once."""

import json
import ssl
import sys
import time
import urllib.request

started = time.monotonic()
arrivals = []
# The test host's certificate is self-signed.
context = ssl._create_unverified_context()  # noqa: S323
with urllib.request.urlopen(sys.argv[1], timeout=30, context=context) as response:
    headers = dict(response.headers)
    for line in response:
        if line.startswith(b"data:"):
            arrivals.append(round(time.monotonic() - started, 3))
print(json.dumps({"arrivals": arrivals, "headers": headers}))
