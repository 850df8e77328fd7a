"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks: /v1/chat/completions (with
usage) and /v1/models. Its answers come from the oracle teacher rendered as JSON text; it can be told to add
latency and to fail on purpose (429 with Retry-After, 500, a hang past the client's timeout, malformed or
truncated JSON, no JSON mode), and it counts what it served so tests can check for duplicate calls.

    with TeacherServer(examples, api_key="sk-test") as server:   # server.base_url -> http://127.0.0.1:PORT/v1
        server.faults += ["429", "malformed"]                     # the next two chat calls fail that way
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from elad_engine.method.cost import count_message_tokens, count_tokens
from elad_engine.method.reasoning import ANSWER_TRIGGER
from elad_engine.method.records import Example
from elad_engine.teachers.oracle import OracleTeacher
from elad_engine.teachers.prompts import render_full, render_revision

FAULTS = ("429", "500", "timeout", "malformed", "truncated", "no_json_mode", "no_json_mode_500")


def parse_prompt(messages: list[dict]) -> tuple[str, str, list[str], str | None]:
    """(mode, question, student steps, student answer) from the first user message of a teacher prompt."""
    user = next(m["content"] for m in messages if m["role"] == "user")
    question = re.search(r"^Question: (.*)$", user, re.MULTILINE).group(1)
    if "Student explanation:" not in user:
        return "full", question, [], None
    body = user.split("Student explanation:\n", 1)[1]
    steps, answer = [], None
    for line in body.splitlines():
        if line.startswith(ANSWER_TRIGGER):
            answer = line[len(ANSWER_TRIGGER):].strip().rstrip(".")
            answer = None if answer == "(none)" else answer
            break
        m = re.match(r"^\d+\. (.*)$", line)
        if m:
            steps.append(m.group(1))
    return "revision", question, steps, answer


class TeacherServer:
    def __init__(self, examples: list[Example], model: str = "teacher-test", api_key: str | None = None,
                 latency: float = 0.0, retry_after: str = "0", hang_s: float = 3.0, fail_rate: float = 0.0,
                 seed: int = 0):
        self.examples = {e.question: e for e in examples}
        self.model, self.api_key, self.latency = model, api_key, latency
        self.retry_after, self.hang_s = retry_after, hang_s
        self.fail_rate, self.rng = fail_rate, random.Random(seed)
        self.faults: list[str] = []  # consumed one per chat call, before fail_rate applies
        self.oracle = OracleTeacher()
        self.lock = threading.Lock()
        self.requests = 0  # every chat call, failed ones included
        self.served: Counter = Counter()  # successful (billed) replies per request body hash
        self.prompt_tokens = self.completion_tokens = 0  # the sum of the usage it returned
        self.events: list[tuple[float, str]] = []  # (time, outcome) of every chat call
        self.headers_seen: list[dict] = []
        self.accepts = {"json_schema", "json_object"}  # the response_format types this endpoint takes
        self.formats: list[str | None] = []  # the response_format type of every chat call

    # --- lifecycle ---

    def __enter__(self) -> TeacherServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                if not server.authorised(self):
                    return
                if self.path.rstrip("/").endswith("/stats"):  # not OpenAI's: the counters, for a server in
                    return server.send_json(self, 200, server.stats())  # another process
                if self.path.rstrip("/").endswith("/models"):
                    return server.send_json(self, 200, {"object": "list", "data": [
                        {"id": server.model, "object": "model", "created": 0, "owned_by": "test"}]})
                server.send_json(self, 404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):
                if not server.authorised(self):
                    return
                if self.path.rstrip("/") != "/v1/chat/completions":  # as real servers: under /v1 only
                    return server.send_json(self, 404, {"error": {"message": f"no route {self.path}"}})
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                server.chat(self, body)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 resets connections under a burst of concurrent calls

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stats(self) -> dict:
        with self.lock:
            return {"requests": self.requests, "max_served": max(self.served.values(), default=0),
                    "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}

    # --- behaviour ---

    def authorised(self, handler) -> bool:
        with self.lock:
            self.headers_seen.append(dict(handler.headers))
        if self.api_key and handler.headers.get("authorization") != f"Bearer {self.api_key}":
            self.send_json(handler, 401, {"error": {"message": "invalid API key", "type": "invalid_request_error"}})
            return False
        return True

    def send_json(self, handler, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def next_fault(self, body: dict) -> str | None:
        with self.lock:
            self.requests += 1
            if self.faults:
                return self.faults.pop(0)
            if self.fail_rate and self.rng.random() < self.fail_rate:
                return self.rng.choice(("429", "500", "timeout", "malformed"))
        return None

    def answer(self, messages: list[dict]) -> str:
        mode, question, steps, answer = parse_prompt(messages)
        example = self.examples[question]
        if mode == "full":
            return render_full(*self.oracle._solution(example))
        return render_revision(self.oracle.judge(example, steps, answer))

    def chat(self, handler, body: dict) -> None:
        fault = self.next_fault(body)
        if self.latency:
            time.sleep(self.latency)
        self.events.append((time.time(), fault or "ok"))
        if fault == "429":
            return self.send_json(handler, 429, {"error": {"message": "rate limited", "type": "rate_limit"}},
                                  {"retry-after": self.retry_after})
        if fault == "500":
            return self.send_json(handler, 500, {"error": {"message": "internal error"}})
        if fault == "timeout":
            time.sleep(self.hang_s)
            return self.send_json(handler, 500, {"error": {"message": "too late"}})
        kind = (body.get("response_format") or {}).get("type")
        with self.lock:
            self.formats.append(kind)
            if kind == "json_schema":
                self.last_schema = body["response_format"]["json_schema"]["schema"]
        if kind is not None and kind not in self.accepts:
            return self.send_json(handler, 400, {"error": {"message": f"response_format type {kind!r} is not "
                                                                      "supported"}})
        if fault == "no_json_mode" and "response_format" in body:
            return self.send_json(handler, 400, {"error": {"message": "response_format is not supported"}})
        if fault == "no_json_mode_500" and "response_format" in body:  # as llama.cpp's server answers
            return self.send_json(handler, 500, {"error": {"message": "failed to parse response_format grammar"}})
        content, finish = self.answer(body["messages"]), "stop"
        if fault == "malformed":
            content = "Sure! Here is my check: {\"steps\": [{\"step\": 1, \"correct\": tru"
        elif fault == "truncated":
            content, finish = content[:len(content) // 2], "length"
        usage = {"prompt_tokens": count_message_tokens(body["messages"]), "completion_tokens": count_tokens(content)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        key = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()
        with self.lock:
            self.served[key] += 1
            self.prompt_tokens += usage["prompt_tokens"]
            self.completion_tokens += usage["completion_tokens"]
        self.send_json(handler, 200, {
            "id": f"chatcmpl-{key[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": self.model, "usage": usage,
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content}}]})


def serve_in_subprocess(examples: list[Example], **kwargs):
    """Start a TeacherServer in its own process (so its Python work does not share the caller's GIL, as a
    remote endpoint would not); returns (process, base_url). Counters: GET base_url + "/stats"."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(examples, kwargs, ready), daemon=True)
    proc.start()
    return proc, ready.get(timeout=60)


def _serve(examples, kwargs, ready) -> None:
    with TeacherServer(examples, **kwargs) as server:
        ready.put(server.base_url)
        threading.Event().wait()
