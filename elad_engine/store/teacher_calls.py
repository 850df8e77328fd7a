"""The teacher ledger and request cache: one row per teacher call (tokens, dollars, cache key), every paid reply
kept by its cache key (shared by the workspace's projects), and what a project has spent."""

from __future__ import annotations

import time
from typing import TypedDict

from .database import Database


class CachedReply(TypedDict):
    key: str
    model: str
    content: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    created_at: float


class Spend(TypedDict):
    prompt_tokens: int  # paid: cached replies cost nothing and are counted apart
    completion_tokens: int
    cost_usd: float
    calls: int
    timeouts: int  # attempts that timed out: each counted at its worst case, as a provider may bill it
    max_prompt_tokens: int
    cached_calls: int
    used_prompt_tokens: int  # what the project's method consumed, cached replies included (its cost on a fresh
    used_completion_tokens: int  # workspace)
    simulated_calls: int  # calls a simulated teacher answered (oracle, reference): priced as an LLM, nothing paid


class TeacherCalls:
    def __init__(self, database: Database):
        self.database = database

    def record(self, project_id: int, rnd: int, example_id: str | None, purpose: str, model: str,
               prompt_tokens: int, completion_tokens: int, cost_usd: float, cache_key: str | None = None,
               cached: bool = False, reply=None, simulated: bool = False) -> None:
        """One ledger row; with `reply` (a teachers.protocol.Reply) the reply enters the request cache in the same
        transaction. A cached reply this project already has a row for (a resume) adds no second row. `simulated`:
        the reply was computed from the data (oracle, reference teacher), nothing was paid to anyone."""
        with self.database.transaction() as db:
            if cached and cache_key and self.database.execute(
                    "SELECT 1 FROM teacher_calls WHERE project_id=? AND cache_key=?",
                    [project_id, cache_key]).fetchone():
                return
            if reply is not None and cache_key:
                db["teacher_cache"].insert({
                    "key": cache_key, "model": model, "content": reply.content, "finish_reason": reply.finish_reason,
                    "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                    "created_at": time.time()}, replace=True)
            db["teacher_calls"].insert({
                "project_id": project_id, "round": rnd, "example_id": example_id, "purpose": purpose, "model": model,
                "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "cost_usd": cost_usd,
                "created_at": time.time(), "cache_key": cache_key, "cached": int(cached), "simulated": int(simulated)})

    def mean_call(self, project_id: int) -> tuple[float | None, float | None]:
        """Mean (prompt, completion) tokens of the project's paid teacher calls; (None, None) before the first."""
        return tuple(self.database.execute("SELECT avg(prompt_tokens), avg(completion_tokens) FROM teacher_calls "
                                           "WHERE project_id=? AND cached=0", [project_id]).fetchone())

    def cached_reply(self, key: str) -> CachedReply | None:
        rows = self.database.query("SELECT * FROM teacher_cache WHERE key = ?", [key])
        return rows[0] if rows else None

    def spend(self, project_id: int, up_to_round: int | None = None) -> Spend:
        """What the teacher was paid (cached replies cost nothing and are counted apart)."""
        up_to = (" AND round <= ?", [up_to_round]) if up_to_round is not None else ("", [])

        def totals(cached: int, columns: str) -> tuple:
            return self.database.execute(f"SELECT {columns} FROM teacher_calls WHERE project_id=? AND cached=?"
                                         f"{up_to[0]}", [project_id, cached, *up_to[1]]).fetchone()

        p, c, d, n, mp, lost, sim = totals(0, "coalesce(sum(prompt_tokens),0), coalesce(sum(completion_tokens),0), "
                                              "coalesce(sum(cost_usd),0), sum(purpose != 'timeout'), "
                                              "coalesce(max(prompt_tokens),0), sum(purpose = 'timeout'), "
                                              "coalesce(sum(simulated),0)")
        cached, cp, cc = totals(1, "count(*), coalesce(sum(prompt_tokens),0), coalesce(sum(completion_tokens),0)")
        return {"prompt_tokens": p, "completion_tokens": c, "cost_usd": d, "calls": n or 0, "max_prompt_tokens": mp,
                "cached_calls": cached, "used_prompt_tokens": p + cp, "used_completion_tokens": c + cc,
                "timeouts": lost or 0, "simulated_calls": sim}
