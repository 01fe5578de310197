"""One TLS context per process for every outgoing HTTP client.

httpx builds a fresh `ssl.SSLContext` (and reads the whole CA bundle) for each client it
makes; a worker makes one client per practice endpoint and per webhook secret, and the
delivery profile had 7.7 % of the workers' samples in `ssl.create_default_context`
(docs/BENCHMARKS.md, "one TLS context per process"). The context is the one httpx
would build: certifi's CAs, hostname checks on.
"""

import ssl
from functools import cache

import httpx


@cache
def shared_tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
