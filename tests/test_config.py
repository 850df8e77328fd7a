"""config.py: defaults, TOML in and out, range/choice/type validation, overrides and the teacher price table."""

from __future__ import annotations

import re

import pytest

from elad_engine.config import SECTIONS, ProjectConfig, TeacherConfig
from elad_engine.errors import ConfigError


def raises(match: str):
    return pytest.raises(ConfigError, match=re.escape(match))


# --- defaults and TOML -----------------------------------------------------------------------------

def test_defaults_validate_and_match_the_design():
    cfg = ProjectConfig()
    assert cfg.validate() is cfg
    assert cfg.uncertainty.samples == 4
    assert cfg.uncertainty.temperature == 0.7
    assert cfg.uncertainty.top_p == 0.95
    assert (cfg.uncertainty.intra, cfg.uncertainty.alpha) == ("soft-drops", 0.25)  # chosen by benchmarks.uncertainty
    assert cfg.selection.strategy == "elad"
    assert cfg.task.answer_type == "number"
    assert cfg.teacher.kind == "oracle"
    assert cfg.rounds.budget_tokens == 0 and cfg.rounds.budget_dollars == 0.0


def test_toml_round_trip_of_defaults():
    cfg = ProjectConfig()
    text = cfg.to_toml()
    assert "[uncertainty]" in text and "alpha = 0.25" in text
    assert ProjectConfig.from_toml(text) == cfg


def test_toml_round_trip_of_changed_values():
    cfg = ProjectConfig().with_overrides(**{
        "uncertainty.alpha": 0.75, "uncertainty.intra": "hard", "selection.strategy": "perplexity",
        "selection.round_budget": 7, "training.learning_rate": 1e-4, "teacher.show_gold": True,
        "teacher.prices": {"m": [1, 2.5]}, "rounds.budget_dollars": 3.5, "task.answer_type": "choice"})
    back = ProjectConfig.from_toml(cfg.to_toml())
    assert back == cfg
    assert back.uncertainty.alpha == 0.75 and back.selection.round_budget == 7
    assert back.teacher.prices == {"m": [1, 2.5]}


def test_save_and_load(tmp_path):
    cfg = ProjectConfig().with_overrides(**{"rounds.rounds": 5})
    path = tmp_path / "project.toml"
    path.write_text(cfg.to_toml(), encoding="utf-8")
    assert ProjectConfig.load(path) == cfg


def test_partial_toml_keeps_the_other_defaults():
    cfg = ProjectConfig.from_toml("[rounds]\nrounds = 7\n")
    assert cfg.rounds.rounds == 7
    assert cfg.rounds.warmup == 0
    assert cfg.uncertainty == ProjectConfig().uncertainty


def test_empty_toml_is_the_defaults():
    assert ProjectConfig.from_toml("") == ProjectConfig()


def test_int_for_a_float_field_is_accepted_as_float():
    cfg = ProjectConfig.from_toml("[uncertainty]\nalpha = 1\n")
    assert cfg.uncertainty.alpha == 1.0 and type(cfg.uncertainty.alpha) is float


# --- invalid values --------------------------------------------------------------------------------

@pytest.mark.parametrize("toml, message", [
    ("[uncertainty]\nalpha = 1.5", "uncertainty.alpha = 1.5 is out of range: must be between 0.0 and 1.0."),
    ("[uncertainty]\nalpha = -0.1", "uncertainty.alpha = -0.1 is out of range: must be between 0.0 and 1.0."),
    ("[uncertainty]\nsamples = 0", "uncertainty.samples = 0 is out of range: must be between 1 and 64."),
    ("[uncertainty]\nintra = 'medium'",
     "uncertainty.intra = 'medium' is invalid: allowed values are 'hard', 'anchored', 'soft', 'soft-drops', "
     "'final-confidence'."),
    ("[selection]\nstrategy = 'greedy'",
     "selection.strategy = 'greedy' is invalid: allowed values are 'elad', 'elad-intra', 'elad-inter', "
     "'answer-entropy', 'perplexity', 'random'."),
    ("[selection]\nround_budget = 0",
     "selection.round_budget = 0 is out of range: must be between 1 and 1000000."),
    ("[training]\nlearning_rate = 0.0",
     "training.learning_rate = 0.0 is out of range: must be between 1e-07 and 1.0."),
    ("[training]\nlearning_rate = 2.0",
     "training.learning_rate = 2.0 is out of range: must be between 1e-07 and 1.0."),
    ("[rounds]\nbudget_tokens = -1", "rounds.budget_tokens = -1 is out of range: must be >= 0."),
    ("[rounds]\nbudget_dollars = -0.5", "rounds.budget_dollars = -0.5 is out of range: must be >= 0.0."),
    ("[teacher]\nkind = 'anthropic'",
     "teacher.kind = 'anthropic' is invalid: allowed values are 'oracle', 'reference', 'openai'."),
    ("[teacher]\nmax_tokens = 8", "teacher.max_tokens = 8 is out of range: must be between 16 and 32768."),
    ("[review]\npolicy = 'none'",
     "review.policy = 'none' is invalid: allowed values are 'auto-approve', 'approve-if-gold-matches', 'human'."),
    ("[task]\nanswer_type = 'float'",
     "task.answer_type = 'float' is invalid: allowed values are 'number', 'choice', 'label', 'text'."),
])
def test_invalid_values_name_the_field_and_what_is_allowed(toml, message):
    with raises(message):
        ProjectConfig.from_toml(toml)


def test_error_message_includes_the_field_doc():
    with raises("(Weight of intra- vs inter-explanation uncertainty in the elad score.)"):
        ProjectConfig.from_toml("[uncertainty]\nalpha = 2.0")


@pytest.mark.parametrize("toml, message", [
    ("[rounds]\nrounds = '3'", "rounds.rounds = '3' is invalid: expected int."),
    ("[rounds]\nrounds = 2.5", "rounds.rounds = 2.5 is invalid: expected int."),
    ("[selection]\nround_budget = true", "selection.round_budget = True is invalid: expected int."),
    ("[uncertainty]\nalpha = '0.5'", "uncertainty.alpha = '0.5' is invalid: expected float."),
    ("[uncertainty]\nalpha = true", "uncertainty.alpha = True is invalid: expected float."),
    ("[teacher]\nshow_gold = 'yes'", "teacher.show_gold = 'yes' is invalid: expected bool."),
    ("[teacher]\nmodel = 4", "teacher.model = 4 is invalid: expected str."),
])
def test_wrong_types_are_refused(toml, message):
    with raises(message):
        ProjectConfig.from_toml(toml)


def test_unknown_section_refused():
    with raises("config: unknown section [optimizer]; known sections: " + ", ".join(SECTIONS) + "."):
        ProjectConfig.from_toml("[optimizer]\nlr = 1")


def test_unknown_field_refused():
    with raises("config: unknown field rounds.roundz; known fields: allow_misfit, budget_dollars, budget_tokens, "
                "pool_limit, rounds, seed, warmup."):
        ProjectConfig.from_toml("[rounds]\nroundz = 2")


def test_section_that_is_not_a_table_refused():
    with raises("config: [rounds] must be a table, got int."):
        ProjectConfig.from_toml("rounds = 3")


def test_source_name_is_in_the_message():
    with raises("my.toml: unknown section [x]"):
        ProjectConfig.from_toml("[x]\ny = 1", source="my.toml")


def test_from_dict_of_a_non_table_refused():
    with raises("config: expected a table of sections, got list."):
        ProjectConfig.from_dict([1, 2])


@pytest.mark.parametrize("text", ["[rounds\nrounds = 2", "[rounds]\nrounds = ", "[rounds]\nrounds = 2\nrounds = 3"])
def test_malformed_toml_refused(text):
    with raises("config: not valid TOML:"):
        ProjectConfig.from_toml(text)


def test_load_of_a_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with raises(f"{path}: cannot read config:"):
        ProjectConfig.load(path)


def test_load_names_the_file_on_bad_content(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[uncertainty]\nalpha = 3.0\n", encoding="utf-8")
    with raises("uncertainty.alpha = 3.0 is out of range"):
        ProjectConfig.load(path)
    path.write_text("[zzz]\n", encoding="utf-8")
    with raises(f"{path}: unknown section [zzz]"):
        ProjectConfig.load(path)


# --- with_overrides --------------------------------------------------------------------------------

def test_with_overrides_returns_a_validated_copy():
    base = ProjectConfig()
    cfg = base.with_overrides(**{"rounds.rounds": 2, "uncertainty.alpha": 1, "selection.strategy": "random"})
    assert cfg.rounds.rounds == 2
    assert cfg.uncertainty.alpha == 1.0 and type(cfg.uncertainty.alpha) is float
    assert cfg.selection.strategy == "random"
    assert base.rounds.rounds == 3 and base.selection.strategy == "elad"  # the original is untouched
    assert cfg.training == base.training


def test_with_overrides_validates():
    with raises("selection.round_budget = -4 is out of range: must be between 1 and 1000000."):
        ProjectConfig().with_overrides(**{"selection.round_budget": -4})


@pytest.mark.parametrize("key", ["nosection.x", "rounds", "rounds."])
def test_with_overrides_unknown_key(key):
    with raises(f"unknown config key {key!r}: use section.field, e.g. rounds.rounds."):
        ProjectConfig().with_overrides(**{key: 1})


def test_with_overrides_unknown_field():
    with raises("overrides: unknown field rounds.nope;"):
        ProjectConfig().with_overrides(**{"rounds.nope": 1})


# --- teacher prices --------------------------------------------------------------------------------

def test_oracle_price_uses_price_as():
    assert TeacherConfig().price() == (0.15, 0.60)  # oracle priced as gpt-4o-mini
    assert TeacherConfig(price_as="gpt-4o").price() == (2.5, 10.0)
    # the oracle's own zero entry is not used: its cost is what an LLM teacher would cost
    assert TeacherConfig(model="oracle", price_as="gpt-4.1").price() == (2.0, 8.0)
    assert TeacherConfig(price_as="not-in-the-table").price() == (0.0, 0.0)


def test_openai_price_uses_the_model_then_price_as():
    assert TeacherConfig(kind="openai", model="gpt-4o").price() == (2.5, 10.0)
    assert TeacherConfig(kind="openai", model="my-local-model").price() == (0.0, 0.0)  # unpriced local: free
    assert TeacherConfig(kind="openai", model="my-local-model", price_as="gpt-4o").price() == (2.5, 10.0)
    assert TeacherConfig(kind="openai", model="my-local-model", price_as="none").price() == (0.0, 0.0)
    assert TeacherConfig().price() == (0.15, 0.60)  # the oracle costs what gpt-4o-mini would
    price = TeacherConfig(kind="openai", model="m", prices={"m": [1, 3]}).price()
    assert price == (1.0, 3.0) and all(type(x) is float for x in price)


@pytest.mark.parametrize("entry", [[-1, 2], [1], [1, 2, 3], "cheap", [1, "2"], [1, -0.01]])
def test_invalid_price_entries_refused(entry):
    with raises(f"teacher.prices['m'] = {entry!r} is invalid: expected [prompt_usd, completion_usd] per million "
                "tokens, both >= 0."):
        ProjectConfig().with_overrides(**{"teacher.prices": {"m": entry}})


def test_price_table_in_toml():
    cfg = ProjectConfig.from_toml("[teacher]\nkind = 'openai'\nmodel = 'm'\n[teacher.prices]\nm = [0.5, 1.5]\n")
    assert cfg.teacher.price() == (0.5, 1.5)
    with raises("teacher.prices['m'] = [0.5] is invalid"):
        ProjectConfig.from_toml("[teacher.prices]\nm = [0.5]\n")


def test_price_table_that_is_not_a_table_refused():
    with raises("teacher.prices"):
        ProjectConfig.from_toml("[teacher]\nprices = 5\n")


def test_nan_is_refused_for_a_range_checked_float():
    with raises("uncertainty.alpha"):
        ProjectConfig.from_toml("[uncertainty]\nalpha = nan\n")
