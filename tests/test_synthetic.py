"""The embedded task: seeded, exact, closed vocabulary; the closing skills are rare in pre-training data."""

from __future__ import annotations

from collections import Counter

from elad_engine.method.reasoning import build_prompt, split_steps
from elad_engine.student.tiny import build_tokenizer, tokenizer_corpus
from elad_engine.tasks.synthetic import (
    MAX_VALUE,
    PRETRAINING_SKILL_SCALE,
    SKILLS,
    default_dataset,
    generate,
    skill_of,
    solve,
)
from elad_engine.teachers.oracle import OracleTeacher


def test_generation_is_seeded_and_exact():
    a, b = generate(50, 3), generate(50, 3)
    assert a == b and generate(50, 4) != a
    for e in a:
        chain = solve(e.meta)
        assert len(chain) == e.difficulty and str(chain[-1][3]) == e.answer
        assert all(0 <= c <= MAX_VALUE for _, _, _, c in chain)
        steps, answer = split_steps(e.rationale)
        assert len(steps) == e.difficulty and answer == f"{e.answer}."
        assert OracleTeacher().revise(e, steps, e.answer).first_error is None


def test_skills_close_problems_with_uneven_frequency_and_are_rare_in_pretraining():
    pool = generate(4000, 5)
    met = Counter(skill_of(e) for e in pool)
    shares = [met[k.name] / len(pool) for k in SKILLS]
    assert max(shares) > 3 * min(shares) > 0  # uneven, and every skill present
    assert 0.35 < sum(shares) < 0.6
    for e in pool:
        # a skill is always the last step, and only its sentence in the question starts with "Then"
        assert all(len(link) == 3 for link in e.meta["chain"][:-1])
        assert e.question.count("Then ") == (skill_of(e) is not None)
    pre = generate(20000, 6, skill_scale=PRETRAINING_SKILL_SCALE)
    assert 0 < sum(skill_of(e) is not None for e in pre) < 0.005 * len(pre)


def test_a_skill_step_restates_the_skill_in_everyday_words_and_the_oracle_checks_it():
    e = next(e for e in generate(400, 8) if skill_of(e) == "half-dozen")
    assert "Then " in e.question and "half a dozen more." in e.question
    steps, _ = split_steps(e.rationale)
    a, op, b, c = solve(e.meta)[-1]
    assert (op, b, c) == ("+", 6, a + 6) and steps[-1].endswith(f"buys 6 more: {a} + 6 = {c}")
    wrong = steps[:-1] + [steps[-1].rsplit("=", 1)[0] + f"= {c + 1}"]
    result = OracleTeacher().judge(e, wrong, str(c + 1))
    assert result.first_error == len(steps) and result.revised_steps == [steps[-1]]
    assert "arithmetic error" in result.verdicts[-1].reason


def test_default_dataset_splits_and_difficulties():
    rows = default_dataset(40, 20)
    assert [e.split for e in rows].count("pool") == 40 and [e.split for e in rows].count("test") == 20
    assert len({e.id for e in rows}) == 60
    assert {e.difficulty for e in rows} <= set(range(1, 7)) and len({e.difficulty for e in rows}) >= 4


def test_tokenizer_round_trips_without_unknown_tokens():
    tok = build_tokenizer(tokenizer_corpus())
    for e in generate(200, 9):
        text = build_prompt(e.question) + e.rationale
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.decode(ids) == text
