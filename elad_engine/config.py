"""Project configuration: one documented, self-validating dataclass per concern, TOML in and out. Every field carries
its documentation and allowed range in `metadata`; `validate()` raises ConfigError naming the field, value and rule."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from .errors import ConfigError
from .modes import Misfit, TeacherKind
from .resources import TINY_STUDENT, bundled, resolve


def opt(default: Any, doc: str, *, lo: float | None = None, hi: float | None = None,
        choices: tuple | None = None, factory: Any = None):
    """A config field with its documentation and allowed range."""
    meta = {"doc": doc, "lo": lo, "hi": hi, "choices": choices}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


class Section:
    """Base of every config section: range checks from field metadata."""

    def validate(self, prefix: str) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            name = f"{prefix}.{f.name}"
            m = f.metadata
            expected = type(f.default) if f.default is not dataclasses.MISSING else None
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                setattr(self, f.name, value)
            if expected in (int, float, str, bool) and not isinstance(value, expected) or (
                    expected in (int, float) and isinstance(value, bool)):
                raise ConfigError(f"{name} = {value!r} is invalid: expected {expected.__name__}. ({m['doc']})")
            if m.get("choices") and value not in m["choices"]:
                allowed = ", ".join(repr(c) for c in m["choices"])
                raise ConfigError(f"{name} = {value!r} is invalid: allowed values are {allowed}. ({m['doc']})")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{name} = {value!r} is invalid: must be a finite number. ({m['doc']})")
            lo, hi = m.get("lo"), m.get("hi")
            if lo is not None and value < lo or hi is not None and value > hi:
                rng = f"between {lo} and {hi}" if lo is not None and hi is not None else (
                    f">= {lo}" if lo is not None else f"<= {hi}")
                raise ConfigError(f"{name} = {value!r} is out of range: must be {rng}. ({m['doc']})")


@dataclass
class TaskConfig(Section):
    answer_type: str = opt("number", "How answers are compared: numerically, as choice letters, labels or text.",
                           choices=("number", "choice", "label", "text"))
    dataset: str = opt("", "The file layout the project's rows were read with: a preset name (gsm8k, aqua, ...) or "
                       "custom for a column mapping; set by the first import, and later imports must match it.")


@dataclass
class StudentConfig(Section):
    path: str = opt(TINY_STUDENT, "The student: a Hugging Face causal LM folder (config, weights, tokenizer), a "
                    ".gguf file (converted once into the workspace), student:NAME for a registered one, or "
                    f"{TINY_STUDENT} for the demo's shipped student.")
    adapter: str = opt("", "Optional peft adapter folder applied on top of `path` at round 0.")
    device: str = opt("auto", "Where the student runs: auto picks CUDA when present, else CPU.",
                      choices=("auto", "cpu", "cuda", "mps"))
    dtype: str = opt("auto", "auto: bfloat16 where native (CUDA; AMX or AVX-512 BF16 CPUs, 20M+ parameters), else fp32",
                     choices=("auto", "float32", "bfloat16", "float16"))
    max_new_tokens: int = opt(160, "Longest explanation the student may write, in tokens.", lo=8, hi=4096)
    probe_max_tokens: int = opt(8, "Tokens decoded after `The answer is` for each step probe.", lo=1, hi=64)
    batch_size: int = opt(32, "Questions per generation batch.", lo=1, hi=4096)
    prompt_style: str = opt("auto", "How questions are put to the student: chat (its tokenizer's chat template with a "
                            "system instruction), completion (the bare Question/Answer scaffold), or auto (chat when "
                            "the tokenizer has a chat template).", choices=("auto", "chat", "completion"))
    few_shot: int = opt(-1, "Worked exemplars (gold rationales of pool questions, in the numbered format) shown "
                        "before each question; those questions leave the pool. -1: auto, 3 for the chat style (an "
                        "instruct model follows the format far better with them) and 0 for completion.", lo=-1, hi=16)


@dataclass
class UncertaintyConfig(Section):
    samples: int = opt(4, "M: sampled explanations per question (plus one greedy).", lo=1, hi=64)
    temperature: float = opt(0.7, "Sampling temperature of the M explanations.", lo=0.01, hi=5.0)
    top_p: float = opt(0.95, "Nucleus sampling threshold.", lo=0.01, hi=1.0)
    # soft-drops and 0.25: chosen by `python -m benchmarks.uncertainty` on the embedded task, 3 seeds (README, "Which
    # uncertainty").
    alpha: float = opt(0.25, "Weight of intra- vs inter-explanation uncertainty in the elad score.", lo=0.0, hi=1.0)
    intra: str = opt("soft-drops", "Intra score (method/uncertainty.py INTRA): hard counts answer flips between "
                     "prefixes; anchored counts only flips away from the final answer once reached; soft, soft-drops "
                     "and final-confidence read P(final answer | prefix).",
                     choices=("hard", "anchored", "soft", "soft-drops", "final-confidence"))


@dataclass
class SelectionConfig(Section):
    strategy: str = opt("elad", "Which samples go to the teacher each round.",
                        choices=("elad", "elad-intra", "elad-inter", "answer-entropy", "perplexity", "random"))
    round_budget: int = opt(32, "b: samples sent to the teacher per round.", lo=1, hi=1_000_000)


ORACLE_PRICE_AS = "gpt-4o-mini"


@dataclass
class TeacherConfig(Section):
    kind: str = opt("oracle", "Teacher backend: oracle (the embedded task's exact arithmetic oracle), reference "
                    "(reference solutions from the data: a simulated teacher for dry runs, no cost), or openai (an "
                    "OpenAI-compatible endpoint).", choices=tuple(k.value for k in TeacherKind))
    model: str = opt("oracle", "Model name sent to the endpoint, and the key of the price table.")
    price_as: str = opt("gpt-4o-mini", "Price-table entry a simulated teacher (oracle, reference) is priced as "
                        "(its cost is what this model would have cost); an openai-kind model with no price of its own "
                        "costs 0 (a local server) unless price_as names an entry.")
    base_url: str = opt("", "OpenAI-compatible base URL, e.g. http://localhost:8000/v1 (openai kind only).")
    api_key_env: str = opt("OPENAI_API_KEY", "Name of the environment variable that holds the API key.")
    annotation: str = opt("revision", "revision: check the student's steps and rewrite from the first wrong one; "
                          "full: write a whole explanation from scratch.", choices=("revision", "full"))
    show_gold: bool = opt(False, "Show the gold answer to the teacher.")
    max_tokens: int = opt(512, "Most completion tokens one teacher call may use (the budget's worst case).",
                          lo=16, hi=32768)
    temperature: float = opt(0.0, "Sampling temperature sent to the endpoint.", lo=0.0, hi=2.0)
    json_mode: bool = opt(True, "Ask for structured output: the reply's JSON schema (response_format json_schema), "
                          "else JSON mode (json_object), else the prompt alone; an endpoint that refuses one gets "
                          "the next, remembered per endpoint. False: the prompt alone.")
    concurrency: int = opt(8, "Teacher calls in flight at once (openai kind).", lo=1, hi=256)
    timeout_s: float = opt(60.0, "Seconds one call may take before it is retried.", lo=0.1, hi=3600.0)
    max_retries: int = opt(5, "Retries of one call on 429, 5xx, timeouts and connection errors.", lo=0, hi=50)
    prices: dict = opt(None, "USD per million (prompt, completion) tokens, by model name.", factory=lambda: {
        "gpt-4o": [2.50, 10.00], "gpt-4o-mini": [0.15, 0.60], "gpt-4.1": [2.00, 8.00],
        "gpt-4.1-mini": [0.40, 1.60]})

    def price(self) -> tuple[float, float]:
        """(prompt, completion) USD per million tokens. The oracle is priced as `price_as`; an endpoint's model by
        its own entry, else by `price_as` when it is set to something else than the oracle's default, else 0."""
        if TeacherKind(self.kind).simulated:
            p = self.prices.get(self.price_as, [0.0, 0.0])
        else:
            p = self.prices.get(self.model) or (self.prices.get(self.price_as) if self.price_as != ORACLE_PRICE_AS
                                                else None)
        return (float(p[0]), float(p[1])) if p else (0.0, 0.0)

    def price_source(self) -> str:
        """In words: what this teacher is billed at and why (the Projects page shows it under the price table)."""
        p, c = self.price()
        if TeacherKind(self.kind).simulated:
            who = f"the simulated {self.kind} teacher"
            why = (f"{who} is priced as the table's `{self.price_as}` entry (teacher.price_as), so its cost compares "
                   "with an LLM's; nothing is paid" if self.price_as in self.prices else
                   f"teacher.price_as names `{self.price_as}`, which the table does not list, so {who} costs nothing")
        elif self.model in self.prices:
            why = f"the table's `{self.model}` entry (teacher.model)"
        elif self.price_as != ORACLE_PRICE_AS and self.price_as in self.prices:
            why = f"the table's `{self.price_as}` entry (teacher.price_as)"
        else:
            why = (f"the table has no `{self.model}` entry: a local model costs nothing unless teacher.price_as "
                   "names one")
        return f"This teacher is billed at ${p:g} per million prompt tokens and ${c:g} per million completion " \
               f"tokens: {why}."

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        if not isinstance(self.prices, dict):
            raise ConfigError(f"{prefix}.prices = {self.prices!r} is invalid: expected a table of model = "
                              "[prompt_usd, completion_usd] per million tokens.")
        for name, p in self.prices.items():
            if not (isinstance(p, (list, tuple)) and len(p) == 2 and all(
                    isinstance(x, (int, float)) and x >= 0 for x in p)):
                raise ConfigError(f"{prefix}.prices[{name!r}] = {p!r} is invalid: expected [prompt_usd, "
                                  "completion_usd] per million tokens, both >= 0.")
        if self.kind == TeacherKind.OPENAI:
            if not self.model.strip() or self.model == "oracle":
                raise ConfigError(f"{prefix}.model = {self.model!r}: name the endpoint's model (e.g. gpt-4o-mini, or "
                                  f"the name vLLM/Ollama serves) when {prefix}.kind = 'openai'.")
            if self.base_url and not re.match(r"^https?://[^\s/]+", self.base_url):
                raise ConfigError(f"{prefix}.base_url = {self.base_url!r} is not an http(s) URL, e.g. "
                                  "http://localhost:8000/v1 (empty means OpenAI's own endpoint).")
        if self.api_key_env and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.api_key_env):
            raise ConfigError(f"{prefix}.api_key_env must be the NAME of an environment variable (letters, digits, "
                              "_), such as OPENAI_API_KEY, not the key itself (the value is not shown here, in case "
                              "it is one).")


@dataclass
class TrainingConfig(Section):
    method: str = opt("lora", "LoRA adapters (peft), or full fine-tuning for tiny models.", choices=("lora", "full"))
    lora_r: int = opt(16, "LoRA rank.", lo=1, hi=1024)
    lora_alpha: int = opt(32, "LoRA scaling numerator.", lo=1, hi=4096)
    lora_dropout: float = opt(0.0, "Dropout on the LoRA path.", lo=0.0, hi=0.9)
    target_modules: str = opt("auto", "Modules that get adapters: auto (the architecture's attention and MLP "
                              "projections), all-linear, or a comma-separated list of module names.")
    learning_rate: float = opt(1e-3, "Peak AdamW learning rate (linear decay).", lo=1e-7, hi=1.0)
    epochs: int = opt(4, "Passes over all approved samples each round.", lo=1, hi=1000)
    batch_size: int = opt(16, "Samples per optimiser step.", lo=1, hi=4096)
    max_length: int = opt(1024, "Longest prompt+explanation in tokens; longer samples are cut at the end, and a sample "
                          "whose explanation starts past it is left out (the phase says how many).", lo=16, hi=32768)
    batching: str = opt("grouped", "How samples become batches: grouped (by length), packed (several "
                        "per row, no cross-sample attention) or padded.", choices=("packed", "grouped", "padded"))
    precision: str = opt("auto", "auto: bfloat16 autocast where the GPU or CPU has native bf16 (AVX512-BF16, AMX), "
                         "else float32.", choices=("auto", "bf16", "fp32"))
    continue_from_previous: bool = opt(True, "Start each round from the previous round's adapter.")
    micro_batch_tokens: int = opt(4096, "Most tokens (rows x longest row) in one forward pass; a batch is split into "
                                  "micro-batches with gradient accumulation (0: the whole batch at once). Halved by "
                                  "itself when the device runs out of memory.", lo=0, hi=10_000_000)
    gradient_checkpointing: bool = opt(False, "Recompute activations in the backward pass: less memory, about a "
                                       "third slower.")
    share_prefix: bool = opt(True, "Run the prompt prefix a micro-batch shares (few-shot exemplars) once, not per "
                             "sample: the same loss and gradients, less compute. Not with packing or dropout.")


@dataclass
class RoundsConfig(Section):
    rounds: int = opt(3, "R: rounds after the warm-up.", lo=0, hi=10_000)
    warmup: int = opt(0, "w: random pool samples fully annotated before round 1 (0 = no warm-up).", lo=0,
                      hi=1_000_000)
    budget_tokens: int = opt(0, "Total teacher tokens (prompt + completion) allowed; 0 = unlimited.", lo=0)
    budget_dollars: float = opt(0.0, "Total teacher spend in USD allowed; 0 = unlimited.", lo=0.0)
    seed: int = opt(0, "Seed of sampling, tie-breaking and training.", lo=0)
    pool_limit: int = opt(0, "Use at most this many pool samples (0 = all).", lo=0)
    allow_misfit: str = opt("", "Fit-check refusals to override for an experiment, comma-separated (e.g. "
                            "demo-student,answers-only), or all; every override is written to the job log. Empty: a "
                            "project that cannot learn is refused before any round.")

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        names = {n.strip() for n in self.allow_misfit.split(",") if n.strip()} - {"all"}
        unknown = sorted(names - set(Misfit))
        if unknown:
            raise ConfigError(f"{prefix}.allow_misfit names {', '.join(map(repr, unknown))}, which no check has; the "
                              f"checks are {', '.join(Misfit)} (or all).")


@dataclass
class ReviewConfig(Section):
    policy: str = opt("auto-approve", "Who decides revisions: approve all, approve when the answer matches "
                      "the gold one, or wait for humans.", choices=("auto-approve", "approve-if-gold-matches",
                                                                    "human"))
    overlap: int = opt(1, "Reviews each sample needs from different reviewers (human policy); when they "
                       "disagree the sample goes to an admin as a conflict.", lo=1, hi=10)


@dataclass
class EvaluationConfig(Section):
    max_examples: int = opt(0, "Evaluate on at most this many test samples (0 = all).", lo=0)


@dataclass
class ComputeConfig(Section):
    processes: int = opt(1, "Processes for pool scoring and training: above 1 the round loop runs them through "
                         "`accelerate launch` (one per GPU; on CPUs, gloo).", lo=1, hi=1024)
    accelerate_config: str = opt("", "Optional accelerate config YAML passed as --config_file, e.g. DeepSpeed "
                                 "ZeRO-2 (deploy/); empty: plain DDP.")
    chunk_size: int = opt(64, "Pool questions explained and saved together: the unit of resume, and of sharding "
                          "across processes.", lo=1, hi=1_000_000)

    def config_file(self) -> Path | None:
        """The accelerate config: a path as given (absolute, or relative to the current folder), else the shipped
        example of that name (deploy/accelerate-ddp.yaml, deploy/accelerate-deepspeed-zero2.yaml)."""
        if not self.accelerate_config:
            return None
        given = resolve(self.accelerate_config)
        if given.is_absolute() or given.is_file():
            return given.resolve()
        shipped = bundled(self.accelerate_config)
        return shipped if shipped.is_file() else given.resolve()

    def check_file(self, prefix: str = "compute") -> None:
        """The accelerate config file exists and asks for nothing the engine cannot do. Checked when a config is
        set and before a launch, not on every load: a moved file must not make a stored project unreadable."""
        if not self.accelerate_config:
            return
        name = f"{prefix}.accelerate_config = {self.accelerate_config!r}"
        path = self.config_file()
        if not path.is_file():
            raise ConfigError(f"{name}: no such file (an accelerate config YAML, e.g. "
                              "deploy/accelerate-deepspeed-zero2.yaml; empty for plain DDP).")
        import json

        import yaml
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as e:
            raise ConfigError(f"{name}: not a readable accelerate config: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{name}: not an accelerate config (expected a mapping of settings).")
        kind = str(data.get("distributed_type", "")).upper()
        stage = (data.get("deepspeed_config") or {}).get("zero_stage")
        # Each rank holds the whole student and the main rank saves its own copy of the adapter: parameter
        # sharding (FSDP, ZeRO-3) would save shards. Precision is training.precision, applied by the engine.
        if "FSDP" in kind or str(stage) == "3":
            raise ConfigError(f"{name}: FSDP and DeepSpeed ZeRO-3 shard the parameters, which the engine cannot "
                              "save an adapter from yet; use DDP (MULTI_GPU) or DeepSpeed ZeRO-1/2.")
        if str(data.get("mixed_precision", "no")).lower() not in ("no", "none", "false"):
            raise ConfigError(f"{name}: mixed_precision = {data.get('mixed_precision')!r}; set it to 'no': the "
                              "engine applies training.precision itself (bf16 autocast where native), so "
                              "adapters stay float32 as in one process.")


SECTIONS = {
    "task": TaskConfig, "student": StudentConfig, "uncertainty": UncertaintyConfig,
    "selection": SelectionConfig, "teacher": TeacherConfig, "training": TrainingConfig,
    "rounds": RoundsConfig, "review": ReviewConfig, "evaluation": EvaluationConfig, "compute": ComputeConfig,
}


def parse_setting(item: str) -> tuple[str, Any]:
    """`section.field=value` from a command line, the value read as TOML (else taken as a bare string)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected section.field=value")
    try:
        return key.strip(), tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return key.strip(), raw


@dataclass
class ProjectConfig:
    """Everything a project needs to run rounds. Sections mirror the TOML tables."""

    task: TaskConfig = field(default_factory=TaskConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    uncertainty: UncertaintyConfig = field(default_factory=UncertaintyConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    rounds: RoundsConfig = field(default_factory=RoundsConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)

    def validate(self) -> ProjectConfig:
        for name in SECTIONS:
            getattr(self, name).validate(name)
        return self

    def check_files(self) -> ProjectConfig:
        """Checks of files the config names (when it is set, not on every load)."""
        self.compute.check_file("compute")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> ProjectConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a table of sections, got {type(data).__name__}.")
        sections = {}
        for key, value in data.items():
            if key not in SECTIONS:
                raise ConfigError(f"{source}: unknown section [{key}]; known sections: {', '.join(SECTIONS)}.")
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: [{key}] must be a table, got {type(value).__name__}.")
            known = {f.name for f in dataclasses.fields(SECTIONS[key])}
            for k in value:
                if k not in known:
                    raise ConfigError(f"{source}: unknown field {key}.{k}; known fields: {', '.join(sorted(known))}.")
            sections[key] = SECTIONS[key](**value)
        return cls(**sections).validate()

    @classmethod
    def from_toml(cls, text: str, source: str = "config") -> ProjectConfig:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{source}: not valid TOML: {e}") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> ProjectConfig:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read config: {e}") from None
        try:
            return cls.from_toml(text, str(path))
        except ConfigError as e:
            if str(e).startswith(str(path)):
                raise
            raise ConfigError(f"{path}: {e}") from None

    def with_overrides(self, **dotted: Any) -> ProjectConfig:
        """A copy with `section.field` values replaced, validated: with_overrides(**{"rounds.rounds": 2})."""
        data = self.to_dict()
        for key, value in dotted.items():
            section, _, name = key.partition(".")
            if section not in data or not name:
                raise ConfigError(f"unknown config key {key!r}: use section.field, e.g. rounds.rounds.")
            data[section][name] = value
        return ProjectConfig.from_dict(data, "overrides").check_files()
