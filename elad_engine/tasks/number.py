"""Numeric answers (GSM8K, SVAMP, the embedded task): the first number of an answer line, in plain notation.

`1,000` is a thousands separator; `4,2` (a locale decimal comma) and `1_000` are ambiguous and read as nothing
rather than as 42 or 1; `1e5` is 100000. Answers compare as canonical decimals (`12.0` == `12`).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .base import Task

# A number token as written in text: digits with any commas/underscores inside, a decimal part, an exponent.
_TOKEN = re.compile(r"[-\u2212]?(?:\d[\d,_]*)?\.?\d+(?:[eE][-+]?\d+)?")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:[eE][-+]?\d+)?")
MAX_EXPONENT = 40  # 1e400 would print 400 digits: no task answer is that large


def canonical_number(text: str) -> str | None:
    """The plain-notation decimal of a whole token (`$1,200.50` -> `1200.5`), or None when it is not one number."""
    s = text.strip().replace("$", "").replace("%", "").replace("\u2212", "-")
    if "_" in s or "," in s and not _THOUSANDS.fullmatch(s):
        return None
    try:
        d = Decimal(s.replace(",", ""))
    except InvalidOperation:
        return None
    if not d.is_finite() or abs(d.adjusted()) > MAX_EXPONENT:
        return None
    out = format(d.normalize(), "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


class NumberTask(Task):
    answer_type = "number"
    gold_hint = "a plain number such as 42, 3.5 or 1,200"

    def read(self, raw: str, choices: list[str] | None) -> str | None:
        m = _TOKEN.search(raw.replace("$", ""))
        return canonical_number(m.group(0)) if m else None

    def gold_problem(self, raw: str, choices: list[str] | None) -> str | None:
        s = raw.strip()
        if "_" in s and canonical_number(s.replace("_", "")) is not None:
            return f"gold answer {raw!r} uses underscores between digits; write {s.replace('_', '')}"
        if "," in s and canonical_number(s) is None and canonical_number(s.replace(",", ".")) is not None:
            return (f"gold answer {raw!r} has a comma that is not a thousands separator; write "
                    f"{s.replace(',', '.')} for a decimal or {s.replace(',', '')} for a whole number")
        if canonical_number(s) is None:  # the whole gold answer must be one number, not a prefix of one
            return f"gold answer {raw!r} is not a valid number; write {self.gold_hint}"
        return None
