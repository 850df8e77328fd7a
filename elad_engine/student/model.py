"""The student: any Hugging Face causal LM folder (+ optional peft adapter) with batched generation,
per-prefix answer probes and teacher-forced token statistics. CUDA is used when present.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import StudentError
from ..method.reasoning import ANSWER_TRIGGER, short_answer
from ..resources import resolve
from . import kv_cache
from .batching import pad_right
from .decode import STOP_RULES, StopRule, decode_prompts
from .hardware import native_bf16, parameter_count, pick_device, pick_dtype, return_freed_memory


def quiet_transformers() -> None:
    """Keep library progress bars and advisory warnings out of the engine's own progress output (called where a
    model is loaded or converted)."""
    import warnings

    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")


@contextlib.contextmanager
def seeded(seed: int):
    """torch's global RNG seeded for this block only (generate() sampling and peft's adapter init draw from it);
    the caller's RNG state comes back after, so loading or using a student never reseeds the program."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _weights_of(path: str) -> tuple[str | Path, dict]:
    """What from_pretrained is given for `path`: a hub id at the commit it resolves to in the Hugging Face cache (read
    from the cache only: no network call; a missing one is named), or a model folder. (transformers' adapter lookup
    does not inherit cache_dir and local_files_only: it gets them as adapter_kwargs, else it asks the hub.)"""
    from .hub import cache_dir, cached, missing, parse_hub_id

    ref = parse_hub_id(path)
    if ref is not None:
        found = cached(ref)
        if found is None:
            raise missing(ref)
        return ref.repo_id, {"revision": found[0], "cache_dir": str(cache_dir()), "local_files_only": True}
    folder = resolve(path)
    if not (folder / "config.json").is_file():
        raise StudentError(f"student.path = {path!r} is not a model folder: it has no config.json. Point it at a "
                           "folder saved with save_pretrained (weights, config and tokenizer), a .gguf file, a "
                           "registered student (student:NAME) or a Hugging Face id such as "
                           "HuggingFaceTB/SmolLM2-135M-Instruct.")
    return folder, {}


def load_tokenizer(path: str):
    """The student's tokenizer alone, without its weights (a folder, or a hub id read from the cache)."""
    from transformers import AutoTokenizer

    quiet_transformers()
    source, where = _weights_of(path)
    return AutoTokenizer.from_pretrained(source, **where)


def truncate_after_answer(text: str) -> str:
    """Cut a generation after its answer line, so rambling past `The answer is X.` is dropped."""
    idx = text.find(ANSWER_TRIGGER)
    if idx < 0:
        return text.strip()
    end = text.find("\n", idx)
    return (text if end < 0 else text[:end]).strip()


class Student:
    """A loaded causal LM and its tokenizer, ready for batched inference."""

    def __init__(self, model, tokenizer, device: torch.device, path: str, adapter: str | None = None):
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.path, self.adapter = path, adapter
        self.max_rows: int | None = None  # generation rows that fit in memory, learnt from the first OOM
        self.generated_tokens = 0  # new tokens generated so far, up to each row's end (a phase's speed)
        self._stop_rules: dict[str, StopRule] = {}
        self.own_decode = kv_cache.supports(model)  # the engine's decode loop can drive this model's cache
        self.model.eval()

    @classmethod
    def load(cls, path: str, adapter: str | None = None, device: str = "auto", dtype: str = "auto",
             trainable: bool = False) -> Student:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet_transformers()  # where the engine loads a model, not at import: an importing program keeps its own
        source, where = _weights_of(path)
        dev = pick_device(device)
        if dev.type == "cpu":
            return_freed_memory()  # the weights, activations and caches are malloc'd: freed ones go back at once
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **where)
            # the size matters only where auto could pick bfloat16 on a CPU: elsewhere no config is read twice
            sized = dtype == "auto" and dev.type == "cpu" and native_bf16(dev)
            size = parameter_count(source, where) if sized else None
            model = AutoModelForCausalLM.from_pretrained(source, dtype=pick_dtype(dtype, dev, size), **where,
                                                         **({"adapter_kwargs": dict(where)} if where else {}))
        except (OSError, ValueError, KeyError) as e:
            raise StudentError(f"Cannot load the student from {path!r}: {e}") from None
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        if adapter:
            from peft import PeftModel
            if not (Path(adapter) / "adapter_config.json").is_file():
                raise StudentError(f"Adapter folder {adapter!r} has no adapter_config.json.")
            try:
                model = PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
            except (RuntimeError, ValueError, KeyError) as e:
                lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
                detail = next((ln for ln in lines if "size mismatch" in ln), lines[0] if lines else repr(e))
                raise StudentError(f"The adapter {adapter!r} does not fit the student {path!r} (it was trained on "
                                   f"another base model?): {detail[:300]}") from None
            if not trainable:  # inference only: folded into the weights, generation runs at the base model's speed
                # peft leaves the merged weights frozen; from_pretrained leaves them requires_grad (every inference
                # runs under no_grad). Frozen bfloat16 weights on a CPU take another path in torch: on SmolLM2 they
                # held 3.5 GB against 1.2 GB for the same 45 greedy answers, and ran 1.3-1.4x slower (README,
                # "Training memory").
                model = model.merge_and_unload().requires_grad_(True)
        model.to(dev)
        return cls(model, tokenizer, dev, path, adapter)

    def stop_rule(self, kind: str) -> StopRule:
        """The decode loop's stop rule for "explanation" or "probe" rows, built once (it decodes the vocabulary)."""
        if kind not in self._stop_rules:
            done, marks = STOP_RULES[kind]
            self._stop_rules[kind] = StopRule(self.tokenizer, done, marks)
        return self._stop_rules[kind]

    # --- generation --------------------------------------------------------------------------------

    def _encode_left(self, texts: list[str]) -> dict[str, torch.Tensor]:
        self.tokenizer.padding_side = "left"
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.device) for k, v in enc.items()}

    @torch.no_grad()
    def generate(self, prompts: list[str], *, max_new_tokens: int, num_samples: int = 1, sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0, seed: int = 0, batch_size: int = 32,
                 on_batch: Callable[[int], None] | None = None) -> list[list[str]]:
        """Completions for each prompt: one greedy, or `num_samples` sampled sharing the prompt's cache. Greedy runs
        on the engine's decode loop where the model's cache allows (rows leave as they finish), else on generate()."""
        if not sample and self.own_decode:
            out: list[list[str]] = [[] for _ in prompts]
            tick = (lambda: on_batch(0)) if on_batch else None  # a pause check about twice a second
            for idx, _, conts, _ in decode_prompts(self, prompts, max_new_tokens, 0, 1.0, 1.0, seed, batch_size, False,
                                                   tick=tick):
                for i, row in zip(idx, conts):
                    out[i] = [truncate_after_answer(self.tokenizer.decode(row[0].tokens, skip_special_tokens=True))]
                if on_batch:
                    on_batch(len(idx))
            return out
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths pad less
        out = [[] for _ in prompts]
        per = num_samples if sample else 1
        per_batch = max(1, min(batch_size, self.max_rows or batch_size) // per)
        pending = [(s, order[s:s + per_batch]) for s in range(0, len(order), per_batch)]
        while pending:
            start, idx = pending.pop(0)
            try:
                gen, width = self._generate_batch([prompts[i] for i in idx], max_new_tokens, sample, num_samples,
                                                  temperature, top_p, seed + start)
            except torch.OutOfMemoryError:
                # Memory decides the batch size: halve it, remember the size that fits, and retry.
                if len(idx) == 1:
                    raise StudentError("One sequence does not fit in the device's memory: lower "
                                       "student.max_new_tokens or use a smaller student.") from None
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                half = len(idx) // 2
                self.max_rows = half * per
                pending[:0] = [(start, idx[:half]), (start + half, idx[half:])]
                continue
            self.generated_tokens += self._count_new(gen[:, width:])
            texts = self.tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True)
            for row, i in enumerate(idx):
                out[i] = [truncate_after_answer(t) for t in texts[row * per:(row + 1) * per]]
            if on_batch:
                on_batch(len(idx))
        return out

    def _count_new(self, new: torch.Tensor) -> int:
        """Tokens of each row up to and including its first end-of-sequence token (the rest is padding)."""
        ends = (new == self.tokenizer.eos_token_id).int()
        return int(((torch.cumsum(ends, dim=1) - ends) == 0).sum())

    def _generate_batch(self, prompts: list[str], max_new_tokens: int, sample: bool, num_samples: int,
                        temperature: float, top_p: float, seed: int) -> tuple[torch.Tensor, int]:
        """One generate() call on left-padded prompts; returns the sequences and the prompt width."""
        enc = self._encode_left(prompts)
        kwargs = dict(max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                      eos_token_id=self.tokenizer.eos_token_id)
        if sample:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0,
                          num_return_sequences=num_samples)
        else:
            kwargs.update(do_sample=False, num_beams=1)
        with seeded(seed) if sample else contextlib.nullcontext():
            return self.model.generate(**enc, **kwargs), enc["input_ids"].shape[1]

    def probe_answers(self, prefixes: list[str], max_new_tokens: int = 8, batch_size: int = 64) -> list[str]:
        """Greedy short answers after each prefix (each ends with `The answer is`)."""
        texts = self.generate(prefixes, max_new_tokens=max_new_tokens, batch_size=batch_size)
        return [short_answer(t[0]) for t in texts]

    # --- teacher-forced statistics -----------------------------------------------------------------

    def _forward_pairs(self, prompts: list[str], targets: list[str], batch_size: int):
        """Yield (index, target token ids, log-probs over target positions [T, V]) per pair."""
        tok = self.tokenizer
        encoded = []
        for p, t in zip(prompts, targets):
            p_ids = tok(p, add_special_tokens=False)["input_ids"]
            t_ids = tok(t, add_special_tokens=False)["input_ids"]
            encoded.append((p_ids, t_ids))
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = pad_right([encoded[i][0] + encoded[i][1] for i in idx], tok.pad_token_id, device=self.device)
            with torch.no_grad():
                logits = self.model(**batch).logits
            for row, i in enumerate(idx):
                p_len, t_ids = len(encoded[i][0]), encoded[i][1]
                # Logits at position j predict token j+1. Only the target rows go to fp32: a whole
                # [batch, length, vocab] fp32 copy would not fit a GPU for 150k-token vocabularies.
                yield i, t_ids, torch.log_softmax(logits[row, p_len - 1:p_len - 1 + len(t_ids)].float(), dim=-1).cpu()

    def answer_probs(self, prefixes: list[str], answers: list[str], batch_size: int = 64) -> list[float]:
        """P(` {answer}.` | prefix) by teacher forcing: the soft probe's p_k."""
        out = [0.0] * len(prefixes)
        targets = [f" {a}." for a in answers]
        for i, t_ids, logp in self._forward_pairs(prefixes, targets, batch_size):
            out[i] = math.exp(float(logp[torch.arange(len(t_ids)), torch.tensor(t_ids)].sum()))
        return out

    def explanation_stats(self, prompts: list[str], completions: list[str],
                          batch_size: int = 32) -> list[tuple[float, float]]:
        """(mean token NLL of the completion, mean predictive entropy over its answer tokens)."""
        out = [(0.0, 0.0)] * len(prompts)
        answer_starts = []
        for c in completions:
            k = c.find(ANSWER_TRIGGER)
            answer_starts.append(len(self.tokenizer(c[:k + len(ANSWER_TRIGGER)], add_special_tokens=False)
                                     ["input_ids"]) if k >= 0 else None)
        for i, t_ids, logp in self._forward_pairs(prompts, completions, batch_size):
            if not t_ids:
                continue
            nll = -logp[torch.arange(len(t_ids)), torch.tensor(t_ids)]
            ent = -(logp.exp() * logp).sum(-1)
            a = answer_starts[i]
            ans_ent = float(ent[a:].mean()) if a is not None and a < len(t_ids) else float(ent.mean())
            out[i] = (float(nll.mean()), ans_ent)
        return out
