"""The embedded task: seeded, exact, closed vocabulary; pre-training data never shows the held-out phrases."""

from __future__ import annotations

from elad_engine.reasoning import build_prompt, split_steps
from elad_engine.synthetic import HELD_OUT, build_tokenizer, default_dataset, generate, solve, tokenizer_corpus
from elad_engine.teachers.oracle import OracleTeacher


def test_generation_is_seeded_and_exact():
    a, b = generate(50, 3), generate(50, 3)
    assert a == b and generate(50, 4) != a
    for e in a:
        chain = solve(e.meta)
        assert len(chain) == e.difficulty and str(chain[-1][3]) == e.answer
        assert all(0 <= c <= 50 for _, _, _, c in chain)
        steps, answer = split_steps(e.rationale)
        assert len(steps) == e.difficulty and answer == f"{e.answer}."
        assert OracleTeacher().revise(e, steps, e.answer).first_error is None


def test_held_out_phrases_only_outside_pretraining():
    stems = [h.split("{n}")[0].replace("{p} ", "") for h in HELD_OUT]  # "finds ", "sells ", "triples them."
    pre = " ".join(e.question for e in generate(3000, 5, held_out=False))
    assert not any(" " + s in pre for s in stems)
    pool = " ".join(e.question for e in generate(3000, 5))
    assert all(" " + s in pool for s in stems)


def test_default_dataset_splits_and_difficulties():
    rows = default_dataset(40, 20)
    assert [e.split for e in rows].count("pool") == 40 and [e.split for e in rows].count("test") == 20
    assert len({e.id for e in rows}) == 60
    assert {e.difficulty for e in rows} == {1, 2, 3, 4}


def test_tokenizer_round_trips_without_unknown_tokens():
    tok = build_tokenizer(tokenizer_corpus())
    for e in generate(200, 9):
        text = build_prompt(e.question) + e.rationale
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.decode(ids) == text
