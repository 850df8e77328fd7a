"""Sending teacher requests: the request cache, the budget check before each call, the ledger after it,
the parse of each reply with one repair call, and bounded concurrency. Every teacher backend goes through
here, so the oracle and a paid endpoint are accounted for the same way. Entry point: `run_requests`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable

from ..errors import BudgetExceeded, TeacherError, TeacherUnavailable
from ..method.cost import Budget, dollars
from ..method.records import TeacherResult
from ..states import TeacherOutcome
from .prompts import PROMPT_VERSION, parse_full, parse_revision, repair_messages
from .protocol import Reply, Teacher, TeacherRequest


def cache_key(model: str, messages: list[dict], params: dict) -> str:
    """The request cache's key: prompt version, model, messages and the sampling parameters."""
    blob = json.dumps({"prompt_version": PROMPT_VERSION, "model": model, "messages": messages, "params": params},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def reference_digest(example) -> str:
    """What a simulated teacher's reply depends on beyond the prompt: the row's gold answer and reference."""
    blob = json.dumps([example.answer, example.rationale, example.meta], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class Ledger:
    """One revise phase's view of a project's teacher spend.

    `reserve` is called before every paid call: it checks the budget against what is spent plus the worst
    case of every call still in flight plus this call's worst case, so concurrency can never overshoot.
    `settle` writes the ledger row and the cached reply in one transaction as soon as a reply arrives.
    """

    def __init__(self, store, project_id: int, rnd: int, budget: Budget, price: tuple[float, float], model: str,
                 check_cancel: Callable[[], None] = lambda: None, simulated: bool = False):
        self.store, self.project_id, self.rnd = store, project_id, rnd
        self.budget, self.price, self.model = budget, price, model
        self.simulated = simulated  # the teacher's replies are computed from the data: each row says so
        self.check_cancel = check_cancel
        self.inflight = {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
        spent = store.teacher_calls.spend(project_id)  # read once: this phase is the project's only spender
        self.spent = {k: spent[k] for k in self.inflight}

    def lookup(self, key: str) -> Reply | None:
        row = self.store.teacher_calls.cached_reply(key)
        if row is None:
            return None
        return Reply(row["content"], row["finish_reason"], row["prompt_tokens"], row["completion_tokens"], cached=True)

    def reserve(self, prompt_worst: int, max_tokens: int) -> tuple[int, int, float]:
        self.check_cancel()
        spent = {k: self.spent[k] + self.inflight[k] for k in self.inflight}
        self.budget.check(spent, prompt_worst, max_tokens, self.price)
        hold = (prompt_worst, max_tokens, dollars(prompt_worst, max_tokens, self.price))
        self._add(hold, +1)
        return hold

    def release(self, hold: tuple[int, int, float]) -> None:
        self._add(hold, -1)

    def _add(self, hold, sign: int) -> None:
        self.inflight["prompt_tokens"] += sign * hold[0]
        self.inflight["completion_tokens"] += sign * hold[1]
        self.inflight["cost_usd"] += sign * hold[2]

    def abandon(self, request: TeacherRequest, hold: tuple[int, int, float], attempts: int) -> None:
        """Attempts that timed out may still be computed and billed by the provider: each keeps its worst case as a
        ledger row ('timeout'), so the budget can never be passed by calls nobody waited for."""
        for _ in range(attempts):
            self.store.teacher_calls.record(self.project_id, self.rnd, request.example.id, "timeout", self.model,
                                            hold[0], hold[1], hold[2], simulated=self.simulated)
            self.spent["prompt_tokens"] += hold[0]
            self.spent["completion_tokens"] += hold[1]
            self.spent["cost_usd"] += hold[2]

    def settle(self, request: TeacherRequest, purpose: str, key: str, reply: Reply) -> float:
        """Record a call; returns its cost in USD (0 for a cached reply: nothing was paid)."""
        cost = 0.0 if reply.cached else dollars(reply.prompt_tokens, reply.completion_tokens, self.price)
        self.store.teacher_calls.record(self.project_id, self.rnd, request.example.id, purpose, self.model,
                                       reply.prompt_tokens, reply.completion_tokens, cost, cache_key=key,
                                       cached=reply.cached, reply=None if reply.cached else reply,
                                       simulated=self.simulated)
        if not reply.cached:
            self.spent["prompt_tokens"] += reply.prompt_tokens
            self.spent["completion_tokens"] += reply.completion_tokens
            self.spent["cost_usd"] += cost
        return cost


class _Stop(Exception):
    """Raised inside a request when no further call may start (budget, cancel, endpoint unusable)."""

    def __init__(self, reason: BaseException):
        super().__init__(str(reason))
        self.reason = reason


def _parse(request: TeacherRequest, reply: Reply) -> TeacherResult:
    if reply.finish_reason == "length":
        raise ValueError("the reply was cut off at max_tokens (finish_reason=length)")
    if request.mode == "full":
        return parse_full(reply.content, request.answer_type, request.example.choices)
    return parse_revision(reply.content, len(request.steps), request.answer, request.answer_type,
                          request.example.choices)


async def _call(teacher: Teacher, ledger: Ledger, request: TeacherRequest, messages: list[dict], purpose: str,
                max_tokens: int) -> tuple[Reply, float]:
    params = teacher.params(max_tokens) | ({"attempt": request.attempt} if request.attempt else {})
    if teacher.simulated:  # its reply follows from the row's reference, which the prompt does not show
        params["reference"] = reference_digest(request.example)
    key = cache_key(teacher.model, messages, params)
    cached = ledger.lookup(key)
    if cached is not None:
        return cached, ledger.settle(request, purpose, key, cached)
    try:
        hold = ledger.reserve(teacher.worst_prompt_tokens(messages), max_tokens)
    except BaseException as e:  # budget, cancel: no call starts
        raise _Stop(e) from None
    try:
        reply = await teacher.send(request, messages, max_tokens)
    except TeacherError as e:
        ledger.abandon(request, hold, getattr(e, "abandoned", 0))
        if isinstance(e, TeacherUnavailable):
            raise _Stop(e) from None
        raise
    finally:
        ledger.release(hold)
    ledger.abandon(request, hold, reply.abandoned)
    return reply, ledger.settle(request, purpose, key, reply)


async def _answer(teacher: Teacher, ledger: Ledger, request: TeacherRequest, max_tokens: int) -> TeacherResult:
    """The parsed answer to one request, after at most one repair call; teacher_failed otherwise."""
    messages, purpose = request.messages, request.mode
    tokens = [0, 0]
    cost = 0.0
    error, replies = "", []
    for attempt in range(2):
        try:
            reply, paid = await _call(teacher, ledger, request, messages, purpose, max_tokens)
        except TeacherError as e:  # the endpoint refused this request: the reviewer sees why
            error = f"{error + ' Then the repair call failed: ' if attempt else ''}{e}"
            break
        except _Stop as stop:
            if attempt == 0 or not isinstance(stop.reason, BudgetExceeded):
                raise  # an endpoint gone or a cancel stops the phase; the resume asks again (replies are cached)
            error += f" No repair call was made: {stop.reason}"
            break
        tokens[0] += reply.prompt_tokens
        tokens[1] += reply.completion_tokens
        cost += paid
        replies.append(reply.content)
        try:
            result = _parse(request, reply)
        except ValueError as e:
            error = f"{'the repaired reply is still unusable: ' if attempt else ''}{e}"
            messages, purpose = repair_messages(request.messages, reply.content, str(e)), "repair"
            continue
        result.prompt_tokens, result.completion_tokens, result.cost_usd = tokens[0], tokens[1], cost
        result.replies = replies
        return result
    return TeacherResult([], None, [], "", tokens[0], tokens[1], raw=replies[-1] if replies else None,
                         status=TeacherOutcome.FAILED, error=error.strip(), cost_usd=cost, replies=replies)


async def _run(teacher: Teacher, requests: list[TeacherRequest], ledger: Ledger, max_tokens: int,
               on_result: Callable[[TeacherRequest, TeacherResult], None]) -> None:
    gate = asyncio.Semaphore(max(1, teacher.concurrency))
    stopped: list[BaseException] = []

    async def one(request: TeacherRequest) -> None:
        async with gate:
            if stopped:
                return
            try:
                result = await _answer(teacher, ledger, request, max_tokens)
            except _Stop as stop:
                stopped.append(stop.reason)
                return
            on_result(request, result)

    try:
        await asyncio.gather(*(one(r) for r in requests))
    finally:
        await teacher.aclose()
    if stopped:
        raise stopped[0]


def run_requests(teacher: Teacher, requests: list[TeacherRequest], ledger: Ledger, max_tokens: int,
                 on_result: Callable[[TeacherRequest, TeacherResult], None]) -> None:
    """Answer every request (at most `teacher.concurrency` at once), calling `on_result` as each finishes.

    Raises BudgetExceeded when the next call could pass the budget (requests not started are left for the
    caller to mark), TeacherUnavailable when the endpoint cannot be used at all, or the cancel check's
    exception; calls already in flight finish and are recorded first.
    """
    asyncio.run(_run(teacher, requests, ledger, max_tokens, on_result))


__all__ = ["Ledger", "cache_key", "run_requests", "BudgetExceeded"]
