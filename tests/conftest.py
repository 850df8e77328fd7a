"""Shared fixtures: a tiny random-initialised student built from a config with the local tokenizer."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GSM8K = REPO.parent / "shared" / "datasets" / "gsm8k"
# Browser tests: Debian's chromium, started the way this machine's closed network wants it; screenshots land here.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = REPO / "test-output" / "screenshots"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed "
                                    "(apt-get install chromium; .ci/run does it)")


def build_tiny_model(out: Path, seed: int = 0, n_layer: int = 2, n_embd: int = 32, dropout: float = 0.1) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from elad_engine.student.tiny import build_tokenizer, tokenizer_corpus

    torch.manual_seed(seed)
    tok = build_tokenizer(tokenizer_corpus())
    cfg = GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=n_embd, n_layer=n_layer, n_head=2,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                     resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout)
    GPT2LMHeadModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def build_tiny_chat_model(out: Path, seed: int = 0) -> Path:
    """A tiny random Llama with a ChatML chat template (end of turn = its EOS), like the small instruct models."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from elad_engine.student.tiny import build_tokenizer, tokenizer_corpus

    torch.manual_seed(seed)
    tok = build_tokenizer(tokenizer_corpus())
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = "<|im_end|>"
    tok.chat_template = CHATML
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_tiny_pretrained_model(out: Path, seed: int = 0) -> Path:
    """A tiny random Llama shaped like a pretrained instruct model: a byte-level BPE tokenizer (it reads any text, no
    unknown token) trained on a little English and arithmetic, and a ChatML chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from elad_engine.student.tiny import tokenizer_corpus

    torch.manual_seed(seed)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = tokenizer_corpus() + (REPO / "tests" / "data" / "gsm8k_sample.jsonl").read_text().splitlines()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<pad>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="<|im_end|>",
                                  bos_token="<|im_start|>")
    tok.chat_template = CHATML
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_pretrained_dir(tmp_path_factory) -> Path:
    return build_tiny_pretrained_model(tmp_path_factory.mktemp("tiny-pretrained"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tmp_path_factory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat-model"))


@pytest.fixture
def workspace(tmp_path) -> Path:
    return tmp_path / "ws"


def tiny_project(store, model_dir: Path, name: str = "p", pool: int = 24, test: int = 8, **overrides) -> int:
    """A project on the synthetic task with the tiny random student and fast settings."""
    from elad_engine.config import ProjectConfig
    from elad_engine.tasks.synthetic import default_dataset

    settings = {"student.path": str(model_dir), "student.max_new_tokens": 24, "student.probe_max_tokens": 3,
                "uncertainty.samples": 2, "rounds.warmup": 4, "rounds.rounds": 1, "selection.round_budget": 4,
                "training.epochs": 1, "training.batch_size": 4, "review.policy": "auto-approve"}
    settings.update(overrides)
    pid = store.projects.create(name, ProjectConfig().with_overrides(**settings))
    store.examples.add(pid, default_dataset(pool, test, seed=99), source="synthetic-test")
    return pid


def reviewed_workspace(ws: Path, model_dir: Path) -> Path:
    """A workspace whose project 'p' has round 0 done and round 1 waiting for human review."""
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.store import Store

    store = Store(ws)
    pid = tiny_project(store, model_dir)
    RoundRunner(store, pid).run(max_rounds=1)
    store.projects.set_config(pid, store.projects.config(pid).with_overrides(**{"review.policy": "human"}))
    outcome = RoundRunner(store, pid).run()
    assert outcome.stop_reason == "review_pending", outcome.message
    store.close()
    return ws


def old_workspace(ws: Path, version: int, rows: list[tuple[str, list]] = ()) -> Path:
    """A workspace as release `version` wrote it: its frozen schema (tests/data/schema_vN.sql) and `rows`, a list
    of (SQL, parameters) run before the schema version is recorded."""
    import sqlite3

    from elad_engine.store.database import statements

    ws.mkdir()
    con = sqlite3.connect(ws / "elad.db")
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    for statement in statements((REPO / "tests" / "data" / f"schema_v{version}.sql").read_text()):
        con.execute(statement)
    for sql, args in rows:
        con.execute(sql, args)
    con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(version)])
    con.commit()
    con.close()
    return ws


@contextlib.contextmanager
def streamlit_app(ws: Path, address: str = "127.0.0.1", **env: str):
    """`streamlit run app.py` on a free port of `address` (loopback unless a test runs in a network namespace of its
    own) for the workspace `ws`; yields (url, process)."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind((address, 0))
        port = s.getsockname()[1]
    full_env = dict(os.environ, PYTHONPATH=str(REPO), ELAD_WORKSPACE=str(ws), **env)
    if env.get("ELAD_NO_WORKER") is None:
        full_env.pop("ELAD_NO_WORKER", None)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", address, "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=REPO, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{address}:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(autouse=True, scope="session")
def app_served_on_loopback():
    """AppTest runs the app with no server: say it is served on 127.0.0.1, as `make run` and .streamlit/config.toml
    do, so the open-door gate (only the first-admin form when served beyond loopback) stays out of page tests."""
    from streamlit import config

    config.set_option("server.address", "127.0.0.1")
    yield
