"""Teacher cost: a fixed offline token counter, dollar prices and the budget check made before each call."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import BudgetExceeded

# GPT-style pre-tokenisation (words with their leading space, 1-3 digit groups, punctuation runs): close
# to what an LLM's BPE bills for English text, and stable, so offline teachers report comparable counts.
_TOKEN = re.compile(r"'(?:s|t|re|ve|m|ll|d)| ?[A-Za-z]+| ?\d{1,3}| ?[^\sA-Za-z\d]+|\s+(?!\S)|\s+")
MESSAGE_OVERHEAD = 4  # tokens a chat API adds per message (role and separators)


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def count_message_tokens(messages: list[dict]) -> int:
    return sum(count_tokens(m["content"]) + MESSAGE_OVERHEAD for m in messages) + 2


def dollars(prompt_tokens: int, completion_tokens: int, price: tuple[float, float]) -> float:
    """USD for one call, price given per million (prompt, completion) tokens."""
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


@dataclass
class Budget:
    """A project's teacher budget; 0 means no cap on that unit."""

    max_tokens: int = 0
    max_dollars: float = 0.0

    def check(self, spent: dict, prompt_tokens: int, max_completion: int, price: tuple[float, float]) -> None:
        """Raise BudgetExceeded if the call's worst case (all of max_completion used) could pass the cap."""
        worst_tokens = spent["prompt_tokens"] + spent["completion_tokens"] + prompt_tokens + max_completion
        if self.max_tokens and worst_tokens > self.max_tokens:
            raise BudgetExceeded(
                f"teacher budget: the next call could bring the total to {worst_tokens:,} tokens, over the cap "
                f"of {self.max_tokens:,} (rounds.budget_tokens); stopping before the call.")
        worst_dollars = spent["cost_usd"] + dollars(prompt_tokens, max_completion, price)
        if self.max_dollars and worst_dollars > self.max_dollars:
            raise BudgetExceeded(
                f"teacher budget: the next call could bring the spend to ${worst_dollars:.4f}, over the cap of "
                f"${self.max_dollars:.2f} (rounds.budget_dollars); stopping before the call.")
