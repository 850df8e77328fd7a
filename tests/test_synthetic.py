"""The embedded task: seeded, exact, closed vocabulary; pre-training data never shows the held-out phrases."""

from __future__ import annotations

from elad_engine.method.reasoning import build_prompt, split_steps
from elad_engine.student.tiny import build_tokenizer, tokenizer_corpus
from elad_engine.tasks.synthetic import CONFUSED, default_dataset, generate, solve
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


def test_noisy_pretraining_data_gets_confused_phrases_wrong_half_the_time():
    def wrong_share(examples, phrase):
        links = [link for e in examples for link in e.meta["chain"] if link[2].split(" ", 1)[1].startswith(phrase)]
        truth = {"finds": "+", "sells": "-", "triples": "*"}[phrase]
        return sum(link[0] != truth or (phrase == "triples" and link[1] != 3) for link in links) / len(links)

    noisy, clean = generate(3000, 5, noisy=True), generate(3000, 5)
    for phrase in ("finds", "sells", "triples"):
        assert wrong_share(clean, phrase) == 0.0
        assert 0.35 < wrong_share(noisy, phrase) < 0.55, phrase
    assert len(CONFUSED) == 3
    # other phrases are never wrong, noisy or not
    plain = [link for e in noisy for link in e.meta["chain"] if link[2].split(" ", 1)[1].startswith("buys")]
    assert plain and all(link[0] == "+" for link in plain)


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
