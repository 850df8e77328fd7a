"""A recording HTTP proxy on 127.0.0.1 in front of a real OpenAI-compatible server, for tests: it forwards every
request unchanged and adds up the `usage` of the replies the server sent (the server's own account of what it
computed), counts replies per request body (a body answered twice was paid twice), and notes whether JSON mode was
asked for. When the server is down it drops the connection, as a dead server would.

    with UsageProxy("http://127.0.0.1:8000") as proxy:   # proxy.base_url -> http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class UsageProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.lock = threading.Lock()
        self.prompt_tokens = self.completion_tokens = 0
        self.replies: Counter = Counter()  # successful chat replies per request-body hash
        self.json_mode = Counter()  # chat requests with / without response_format
        self.formats = Counter()  # "json_schema -> 200": the response_format type asked for, and the answer
        self.dropped = 0  # requests that found the server down

    def __enter__(self) -> UsageProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy.forward(self, None)

            def do_POST(self):
                proxy.forward(self, self.rfile.read(int(self.headers.get("content-length", 0))))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def forward(self, handler, body: bytes | None) -> None:
        request = urllib.request.Request(self.upstream + handler.path, data=body, method=handler.command,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            with self.lock:
                self.dropped += 1
            handler.close_connection = True  # no reply at all: what a client of a dead server sees
            return
        if body is not None and handler.path.rstrip("/").endswith("/chat/completions"):
            self.record(json.loads(body), status, data)
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def record(self, request: dict, status: int, data: bytes) -> None:
        with self.lock:
            self.json_mode["response_format" in request] += 1
            self.formats[(request.get("response_format") or {}).get("type", "prompt") + f" -> {status}"] += 1
            if status != 200:
                return
            usage = json.loads(data).get("usage") or {}
            self.prompt_tokens += usage.get("prompt_tokens", 0)
            self.completion_tokens += usage.get("completion_tokens", 0)
            key = hashlib.sha256(json.dumps(request["messages"], sort_keys=True).encode()).hexdigest()
            self.replies[key] += 1
