"""Docker HEALTHCHECK: is the local Jaicat server answering /api/health (over HTTP or HTTPS)?"""

import os
import ssl
import sys
import urllib.request

port = os.environ.get("JAICAT_PORT", "8787")
ctx = ssl._create_unverified_context()  # the server's certificate is from its own local CA
for scheme in ("http", "https"):
    try:
        with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/api/health", timeout=5, context=ctx) as r:
            if r.status == 200:
                sys.exit(0)
    except (OSError, ValueError):
        continue
sys.exit(1)
