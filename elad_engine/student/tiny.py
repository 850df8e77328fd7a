"""The tiny demo student's tokenizer: words, single digits, punctuation and newlines over the synthetic task's
closed vocabulary. scripts/build_tiny_student.py pre-trains the shipped student with it; tests build tiny random
models with it."""

from __future__ import annotations

from ..method.reasoning import build_prompt, format_explanation
from ..tasks.synthetic import ADD, ITEMS, MUL, NAMES, SKILLS, SUB, generate

# Words, single digits (with an optional leading space), punctuation and newlines are tokens, so a
# number is spelled digit by digit and the model can learn column arithmetic.
PRETOKENIZE = r" ?[A-Za-z]+| ?\d| ?[^\sA-Za-z\d]|\n| +"
SPECIAL = ["<pad>", "<unk>", "<bos>", "<eos>"]


def build_tokenizer(texts: list[str]):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(PRETOKENIZE), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=SPECIAL, min_frequency=1))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<bos>", eos_token="<eos>")


def tokenizer_corpus() -> list[str]:
    """Every word the task can produce, so the vocabulary is closed."""
    words = [n for n, _ in NAMES] + [p for _, p in NAMES] + ITEMS
    texts = [" ".join(words), " ".join(ADD + SUB + list(MUL.values()) + [k.template for k in SKILLS]),
             "How many does have now? 0123456789 + - * / = . : Question Answer The answer is",
             build_prompt("x") + format_explanation(["1 + 2 = 3"], "3")]
    return texts + [build_prompt(e.question) + e.rationale for e in generate(200, 7)]
