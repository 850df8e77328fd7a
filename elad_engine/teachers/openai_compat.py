"""The teacher on any OpenAI-compatible chat endpoint: OpenAI, vLLM, Ollama, llama.cpp server, LM Studio, TGI.

Only sending lives here (retries with backoff and Retry-After, JSON mode, timeouts); caching, the budget, the
ledger and parsing are shared with every backend in dispatch.py. The API key is read from the environment
variable named by teacher.api_key_env when the teacher is built, and is scrubbed from every error text.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time

import openai  # imported here, not on the first call: it takes about a second
from openai.types.chat import ChatCompletion

from ..config import TeacherConfig
from ..errors import TeacherError, TeacherUnavailable
from .prompts import output_schema
from .protocol import Reply, TeacherRequest

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}
MAX_WAIT_S = 60.0  # the longest single wait, whatever Retry-After asks
# How the reply's JSON is asked for, best first: the reply's schema (structured output), JSON mode, the prompt
# alone. An endpoint that refuses one gets the next; what it took is remembered per endpoint and model.
STRUCTURED = ("json_schema", "json_object", "prompt")
_TAKEN: dict[tuple[str, str], str] = {}


def response_format(level: str, mode: str) -> dict | None:
    if level == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": f"elad_{mode}", "schema": output_schema(mode),
                                                       "strict": True}}
    return {"type": "json_object"} if level == "json_object" else None


def refuses_format(status: int, detail: str) -> bool:
    """An endpoint saying it cannot do the requested response_format (400/422, or a 5xx as llama.cpp sends)."""
    text = detail.lower()
    return (status in (400, 422) or status >= 500) and any(w in text for w in ("response_format", "json_schema",
                                                                               "schema", "json mode"))


def read_api_key(env_name: str) -> str:
    """The key from the environment; an empty env_name means an endpoint that needs none (local servers)."""
    if not env_name:
        return "no-key-needed"
    key = os.environ.get(env_name, "")
    if not key:
        raise TeacherUnavailable(f"the environment variable {env_name} is not set: export it with the endpoint's "
                                 f"API key (or set teacher.api_key_env = \"\" for a local server that needs none).")
    return key


def retry_after_seconds(headers) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date) or retry-after-ms; None when absent."""
    if headers is None:
        return None
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def backoff_seconds(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
    return random.uniform(0, min(cap, base * 2 ** attempt))


class OpenAICompatTeacher:
    name = "openai"
    simulated = False

    def __init__(self, cfg: TeacherConfig):
        self.cfg = cfg
        self.model = cfg.model
        self.concurrency = cfg.concurrency
        self._key = read_api_key(cfg.api_key_env)
        self._endpoint = (cfg.base_url or "api.openai.com", cfg.model)
        self.structured = _TAKEN.get(self._endpoint, STRUCTURED[0]) if cfg.json_mode else "prompt"
        self._client = None
        self.calls_made = 0  # HTTP requests sent, retries included (for logs and benchmarks)

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key and len(self._key) >= 4 else text

    def client(self):
        if self._client is None:  # built inside the running loop: its connection pool belongs to that loop
            self._client = openai.AsyncOpenAI(api_key=self._key, base_url=self.cfg.base_url or None,
                                       timeout=self.cfg.timeout_s, max_retries=0)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def worst_prompt_tokens(self, messages: list[dict]) -> int:
        # Byte-level BPE tokenizers (GPT, Llama 3, Qwen, Mistral) never make more tokens than UTF-8 bytes; the
        # chat template adds a few per message. A bound, not an estimate, so the budget holds for any tokenizer.
        return sum(len(m["content"].encode("utf-8")) + 8 for m in messages) + 16

    def params(self, max_tokens: int) -> dict:
        return {"max_tokens": max_tokens, "temperature": self.cfg.temperature}

    def _not_found(self, detail: str) -> str:
        where = self.cfg.base_url or "api.openai.com"
        hint = (f"; OpenAI-compatible servers serve under /v1: try teacher.base_url = "
                f"\"{where.rstrip('/')}/v1\"" if self.cfg.base_url and not self.cfg.base_url.rstrip("/").endswith(
                    "/v1") else "")
        return (f"the endpoint has no model {self.model!r} or no chat completions route at {where} (HTTP 404): "
                f"{detail}{hint}")

    async def send(self, request: TeacherRequest, messages: list[dict], max_tokens: int) -> Reply:
        """One completion, retried on 429, 5xx, timeouts and connection errors. When every retry is used up the
        endpoint is unusable for now (TeacherUnavailable: the phase stops and resumes later, no sample is failed);
        a request the endpoint refuses outright is this sample's TeacherError."""
        last, abandoned, attempt = "", 0, -1
        while attempt < self.cfg.max_retries:
            attempt += 1
            kwargs = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                      "temperature": self.cfg.temperature}
            fmt = response_format(self.structured, request.mode)
            if fmt is not None:
                kwargs["response_format"] = fmt
            wait = None
            try:
                self.calls_made += 1
                # The documented low-level call: the same request as chat.completions.create, without its
                # per-call walk over the typed message dicts (about 1.4 ms a call, measured).
                response = await self.client().post("/chat/completions", body=kwargs, cast_to=ChatCompletion)
            except openai.APIStatusError as e:
                status = e.status_code
                detail = self.redact(str(e.message or e))[:300]
                if fmt is not None and refuses_format(status, detail):
                    # Not this endpoint's way: the next one, remembered; the refusal costs no retry.
                    self.structured = _TAKEN[self._endpoint] = STRUCTURED[STRUCTURED.index(self.structured) + 1]
                    attempt -= 1
                    continue
                if status in (401, 403):
                    raise TeacherUnavailable(f"the endpoint refused the API key from ${self.cfg.api_key_env} "
                                             f"(HTTP {status}): {detail}") from None
                if status == 404:
                    raise TeacherUnavailable(self._not_found(detail)) from None
                if status not in RETRY_STATUS:
                    raise TeacherError(f"the endpoint rejected the request (HTTP {status}): {detail}") from None
                last = f"HTTP {status}: {detail}"
                wait = retry_after_seconds(e.response.headers if e.response is not None else None)
            except openai.APITimeoutError:
                last = f"no reply within {self.cfg.timeout_s:g} s"
                abandoned += 1
            except openai.APIConnectionError as e:
                last = f"connection failed: {self.redact(str(e.__cause__ or e))[:200]}"
            else:
                choice = response.choices[0] if response.choices else None
                content = (choice.message.content or "") if choice else ""
                usage = response.usage
                if usage is None:
                    raise TeacherError("the endpoint's reply has no 'usage', so its cost cannot be counted")
                return Reply(content, (choice.finish_reason if choice else None) or "stop",
                             int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0), abandoned=abandoned)
            if attempt < self.cfg.max_retries:
                await asyncio.sleep(min(MAX_WAIT_S, wait if wait is not None else backoff_seconds(attempt)))
        error = TeacherUnavailable(f"the teacher endpoint {self.cfg.base_url or 'api.openai.com'} did not answer "
                                   f"{self.cfg.max_retries + 1} attempts (last: {last}); the phase stopped and "
                                   "resumes with the samples that have no reply yet")
        error.abandoned = abandoned
        raise error


async def list_models(cfg: TeacherConfig) -> list[str]:
    """The endpoint's model names (GET /models): a connection test that costs nothing."""
    teacher = OpenAICompatTeacher(cfg)
    try:
        page = await teacher.client().models.list()
        return [m.id for m in page.data]
    except openai.APIStatusError as e:
        raise TeacherUnavailable(f"the endpoint answered HTTP {e.status_code}: "
                                 f"{teacher.redact(str(e.message or e))[:300]}") from None
    except openai.APIConnectionError as e:
        raise TeacherUnavailable(f"cannot reach {cfg.base_url or 'api.openai.com'}: "
                                 f"{teacher.redact(str(e.__cause__ or e))[:200]}") from None
    finally:
        await teacher.aclose()


def check_connection(cfg: TeacherConfig) -> str:
    """One line saying whether the endpoint answers and serves the configured model (raises TeacherUnavailable)."""
    models = asyncio.run(list_models(cfg))
    where = cfg.base_url or "api.openai.com"
    if cfg.model in models:
        return f"{where} answers and serves {cfg.model!r} ({len(models)} model(s) listed)"
    shown = ", ".join(models[:10]) + (" ..." if len(models) > 10 else "")
    raise TeacherUnavailable(f"{where} answers but does not list model {cfg.model!r}; it lists: {shown or 'none'}")
