#!/usr/bin/env python3
"""Build the LLM proxies: harness/proxies/gptj/ and harness/proxies/llama2/.

Each proxy is a tiny transformers model with the real MLPerf model's contract
(GPT-J: `GPTJForCausalLM`, byte-level BPE, Alpaca prompt, beam search 4 with
30..128 new tokens; Llama-2-70B: `LlamaForCausalLM`, sentencepiece-style BPE,
Llama-2 chat prompt, greedy decoding) and a small deterministic eval set in the
real on-disk format (`cnn_eval.json`, `open_orca.pkl`).

The tasks are synthetic but learnable, so the FP32 ROUGE is far above what a
broken pipeline scores:
- gptj: a news-like article whose first paragraph (the "lead", two sentences)
  is the summary, as in CNN/DailyMail highlights that restate the lead;
- llama2: a list of facts about a town and a question that asks for some (or
  all) of them; the answer restates those facts in the question's order.
Content words are drawn without replacement inside one sample, so a copy is a
well-defined look-up (an induction head), which a 2-3 layer model learns on a
CPU in minutes.

Outputs (per proxy, under --out):
    gptj/cnn_eval.json          JSON array of {"instruction", "input", "output"}
    gptj/model/                 config.json, model.safetensors, tokenizer files
    gptj/reference.json         measured ROUGE per precision, decode settings, ...
    llama2/open_orca.pkl        pandas DataFrame, processorca.py's columns
    llama2/model/, llama2/reference.json

Usage:  python tools/build_llm_proxies.py --which gptj|llama2|all [--out harness/proxies]
The datasets are byte-identical on every run (fixed seeds, no timestamps); the
weights are reproducible on the same machine (fixed seeds, deterministic torch
algorithms, a fixed thread count).
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "harness" / "proxies"
BUILDER_VERSION = "1"
# One thread: the 2-core machine is shared with other jobs, and an OpenMP pool of
# 2 on an oversubscribed machine was measured 10x slower per step than 1 thread.
THREADS = 1
GPTJ_POSITIONS = 512  # prompt (<= ~220 tokens) + 128 new tokens, with room
LLAMA_POSITIONS = 512
TRAIN_SEED = 1234


class ProxyBuildError(ValueError):
    """A generated or loaded proxy artifact does not have the expected form."""


# --------------------------------------------------------------------------
# Word lists (written for this project; the grammar only needs variety).
# --------------------------------------------------------------------------
FIRST_NAMES = (
    "Adele Bruno Carla Dmitri Elena Farid Greta Hassan Ingrid Jonas Keiko Luis Marta Nadia Omar "
    "Priya Quentin Rosa Stefan Tariq Ursula Victor Wanda Xavier Yusuf Zora Anton Bianca Cyrus Delia"
).split()
LAST_NAMES = (
    "Alvarez Brennan Castillo Dorsey Eklund Fontaine Garner Holloway Iverson Jansen Kowalski Lindqvist "
    "Moreau Novak Okafor Petrov Quinlan Romero Sandoval Tanaka Ueda Vasquez Whitaker Yamada Zeller"
).split()
PLACES = (
    "Brookfield Carrowmore Dunmere Eastvale Fairhaven Glenrock Harlow Ironbridge Juniper Kestrel "
    "Lakemont Millbrook Northwick Oakridge Pinecrest Queensbury Riverton Stonehill Thornbury Upton "
    "Westmoor Yarrow Ashby Bellmont Cedarville Dovecote Elmstead Foxley Greywater Hollins"
).split()
ORGS = (
    "the city council|the health ministry|the transport agency|the national bank|the weather service|"
    "the energy board|the port authority|the school district|the farmers union|the science academy|"
    "the water company|the football league|the museum trust|the housing office|the police department"
).split("|")
ROLES = (
    "mayor director spokesperson minister chairman engineer professor coach governor inspector "
    "treasurer curator captain economist analyst"
).split()
ADJECTIVES = (
    "sudden major quiet costly modest rapid careful bold fragile unusual steady early late rare "
    "strong weak bright narrow broad sharp gentle heavy local remote urgent"
).split()
NOUNS = (
    "bridge harbor festival market railway library stadium factory hospital airport reservoir "
    "orchard tunnel museum canal highway vineyard quarry garden laboratory"
).split()
PLURALS = (
    "buses teachers houses trees schools nurses farms boats tickets jobs clinics bikes shops "
    "homes wells roads parks lamps"
).split()
VERBS_PAST = (
    "announced approved rejected delayed opened closed expanded reviewed criticized praised "
    "funded inspected rebuilt canceled launched"
).split()
VERBS_BASE = "rise fall grow shrink improve slow recover double".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = "January February March April May June July August September October November December".split()

# Llama-2 proxy: attributes of a town and the value pools they draw from.
ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("mayor", "person"),
    ("river", "water"),
    ("market day", "day"),
    ("main export", "good"),
    ("oldest building", "building"),
    ("football club", "club"),
    ("sister city", "place"),
    ("local dish", "dish"),
    ("founding year", "year"),
    ("population", "number"),
    ("favorite color", "color"),
    ("patron animal", "animal"),
)
WATERS = "Tamsin Creek|Alder Brook|Silver Run|Moss River|Otter Stream|Heron Water|Cold Spring|Vale Brook".split("|")
GOODS = "copper wire|wool cloth|glass beads|olive oil|paper lamps|oak barrels|salt fish|clay pots".split("|")
BUILDINGS = "the old mill|the clock tower|the grain store|the chapel|the toll house|the stone inn".split("|")
CLUBS = "Rovers|Wanderers|United|Athletic|Rangers|Albion|Harriers|Town".split("|")
DISHES = "lamb stew|plum cake|fish pie|onion soup|berry tart|pea fritters|cheese bread|honey buns".split("|")
COLORS = "crimson|teal|amber|violet|olive|indigo|scarlet|ochre".split("|")
ANIMALS = "heron|badger|otter|falcon|hare|stag|lynx|kestrel".split("|")
SYSTEM_PROMPTS = (
    "",
    "You are a helpful assistant.",
    "You are an AI assistant. Answer using only the facts given by the user.",
    "Answer briefly and accurately.",
)


# --------------------------------------------------------------------------
# Synthetic samples
# --------------------------------------------------------------------------
class _Draw:
    """Draws from word pools without replacement inside one sample.

    Unique content words make every copy target a unique look-up, which is
    what keeps the task learnable by a two-layer model.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: dict[str, set[str]] = {}

    def pick(self, name: str, pool: Sequence[str]) -> str:
        used = self.used.setdefault(name, set())
        choices = [w for w in pool if w not in used]
        if not choices:
            raise ProxyBuildError(f"word pool {name!r} exhausted ({len(pool)} words): the grammar asks too much")
        word = self.rng.choice(choices)
        used.add(word)
        return word

    def person(self) -> str:
        return f"{self.pick('first', FIRST_NAMES)} {self.pick('last', LAST_NAMES)}"

    def number(self, low: int, high: int) -> str:
        while True:  # numbers are content too: keep them unique in a sample
            value = str(self.rng.randint(low, high))
            if value not in self.used.setdefault("number", set()):
                self.used["number"].add(value)
                return value


def _capitalise(text: str) -> str:
    return text[0].upper() + text[1:]


def _a(word: str) -> str:
    """The indefinite article that goes with `word`."""
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


# Each template is one news sentence; a sample uses a template at most once.
_SENTENCES: tuple[Callable[[_Draw], str], ...] = (
    lambda d: (
        f"{d.person()}, the {d.pick('adj', ADJECTIVES)} {d.pick('role', ROLES)} of {d.pick('org', ORGS)}, "
        f"said on {d.pick('day', DAYS)} that the {d.pick('noun', NOUNS)} in {d.pick('place', PLACES)} "
        f"would {d.pick('vbase', VERBS_BASE)} by {d.number(2, 60)} percent."
    ),
    lambda d: (
        f"Officials in {d.pick('place', PLACES)} {d.pick('vpast', VERBS_PAST)} {_a(d.pick('adj', ADJECTIVES))} "
        f"plan for the {d.pick('noun', NOUNS)} on {d.pick('day', DAYS)}, and {d.pick('org', ORGS)} promised "
        f"{d.number(12, 900)} new {d.pick('plural', PLURALS)} by {d.pick('month', MONTHS)}."
    ),
    lambda d: (
        f"The {d.pick('noun', NOUNS)} near {d.pick('place', PLACES)} was {d.pick('vpast', VERBS_PAST)} after "
        f"{d.number(12, 900)} {d.pick('plural', PLURALS)} were lost in {d.pick('month', MONTHS)}, "
        f"{d.person()} told reporters."
    ),
    lambda d: (
        f"{_capitalise(d.pick('org', ORGS))} {d.pick('vpast', VERBS_PAST)} the {d.pick('adj', ADJECTIVES)} "
        f"{d.pick('noun', NOUNS)} in {d.pick('place', PLACES)} this {d.pick('month', MONTHS)}, leaving "
        f"{d.number(12, 900)} {d.pick('plural', PLURALS)} without support."
    ),
    lambda d: (
        f"According to {d.person()}, {_a(d.pick('adj', ADJECTIVES))} {d.pick('role', ROLES)} from "
        f"{d.pick('place', PLACES)}, the {d.pick('noun', NOUNS)} could {d.pick('vbase', VERBS_BASE)} "
        f"before the end of {d.pick('month', MONTHS)}."
    ),
    lambda d: (
        f"Some {d.number(12, 900)} {d.pick('plural', PLURALS)} in {d.pick('place', PLACES)} "
        f"{d.pick('vpast', VERBS_PAST)} the {d.pick('adj', ADJECTIVES)} {d.pick('noun', NOUNS)} on "
        f"{d.pick('day', DAYS)}, said {d.person()} of {d.pick('org', ORGS)}."
    ),
    lambda d: (
        f"Residents of {d.pick('place', PLACES)} said the {d.pick('noun', NOUNS)} had been "
        f"{d.pick('vpast', VERBS_PAST)} twice since {d.pick('month', MONTHS)}, and {d.number(12, 900)} "
        f"{d.pick('plural', PLURALS)} remain closed."
    ),
    lambda d: (
        f"In a statement on {d.pick('day', DAYS)}, {d.pick('org', ORGS)} said {d.person()} would lead "
        f"{_a(d.pick('adj', ADJECTIVES))} review of the {d.pick('noun', NOUNS)} in {d.pick('place', PLACES)}."
    ),
)
GPTJ_INSTRUCTION = "Summarize the following news article:"
GPTJ_MIN_SENTENCES, GPTJ_MAX_SENTENCES = 4, 5  # prompts of ~150-200 tokens


def gptj_record(rng: random.Random) -> dict[str, str]:
    """One CNN/DailyMail-style record: the summary is the article's lead paragraph."""
    draw = _Draw(rng)
    n_sentences = rng.randint(GPTJ_MIN_SENTENCES, GPTJ_MAX_SENTENCES)
    templates = rng.sample(range(len(_SENTENCES)), n_sentences)
    sentences = [_SENTENCES[t](draw) for t in templates]
    lead = " ".join(sentences[:2])
    # The lead is its own paragraph, as news copy is laid out: the paragraph
    # break is what tells the model where the summary stops.
    article = lead + "\n" + " ".join(sentences[2:])
    return {"instruction": GPTJ_INSTRUCTION, "input": article, "output": lead}


def _town_value(draw: _Draw, kind: str, town: str) -> str:
    if kind == "person":
        return draw.person()
    if kind == "water":
        return draw.pick("water", WATERS)
    if kind == "day":
        return draw.pick("day", DAYS)
    if kind == "good":
        return draw.pick("good", GOODS)
    if kind == "building":
        return draw.pick("building", BUILDINGS)
    if kind == "club":
        return f"{town} {draw.pick('club', CLUBS)}"
    if kind == "place":
        return draw.pick("place", PLACES)
    if kind == "dish":
        return draw.pick("dish", DISHES)
    if kind == "year":
        return draw.number(1650, 1950)
    if kind == "number":
        return draw.number(1200, 98000)
    if kind == "color":
        return draw.pick("color", COLORS)
    if kind == "animal":
        return draw.pick("animal", ANIMALS)
    raise ProxyBuildError(f"unknown attribute kind {kind!r}")


def _join_facts(pairs: Sequence[tuple[str, str]]) -> str:
    clauses = [f"the {key} is {value}" for key, value in pairs]
    return ", ".join(clauses[:-1]) + f", and {clauses[-1]}"


def orca_record(rng: random.Random) -> dict[str, str]:
    """One OpenOrca-style record: facts about a town, a question, the answer restating facts."""
    draw = _Draw(rng)
    town = draw.pick("place", PLACES)
    n_facts = rng.randint(4, 6)
    facts = [(key, _town_value(draw, kind, town)) for key, kind in rng.sample(ATTRIBUTES, n_facts)]
    lines = "\n".join(f"- The {key} is {value}." for key, value in facts)
    task = rng.choice(("some", "some", "all"))  # answers of ~20-40 and ~40-60 tokens
    if task == "all":
        asked = facts
        ask = f"List all of the facts about {town} in one sentence."
    else:
        asked = rng.sample(facts, rng.randint(3, 4))
        names = [f"the {key}" for key, _ in asked]
        ask = f"What are {', '.join(names[:-1])} and {names[-1]} of {town}?"
    question = f"Here are some facts about {town}.\n{lines}\n{ask}"
    answer = f"In {town}, {_join_facts(asked)}."
    return {"system_prompt": rng.choice(SYSTEM_PROMPTS), "question": question, "output": answer}


# --------------------------------------------------------------------------
# Prompts (facts carried over from MLPerf: GPT-J's Alpaca template in
# language/gpt-j/dataset.py; Llama-2 chat template in processorca.py)
# --------------------------------------------------------------------------
ALPACA_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
LLAMA_PROMPT_SYSTEM = "<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{question} [/INST]"
LLAMA_PROMPT_NO_SYSTEM = "<s>[INST] {question} [/INST]"


def gptj_prompt(record: dict[str, str]) -> str:
    return ALPACA_PROMPT.format(instruction=record["instruction"], input=record["input"])


def llama_prompt(system_prompt: str, question: str) -> str:
    """processorca.py's `input`: the SYS block only when the system prompt is non-empty."""
    if system_prompt:
        return LLAMA_PROMPT_SYSTEM.format(system=system_prompt, question=question)
    return LLAMA_PROMPT_NO_SYSTEM.format(question=question)


# --------------------------------------------------------------------------
# Splits: the eval split is committed; training splits come from other seeds.
# --------------------------------------------------------------------------
EVAL_SIZE = 64
GPTJ_EVAL_SEED, ORCA_EVAL_SEED = 20240901, 20240902
GPTJ_TRAIN_SEED, ORCA_TRAIN_SEED = 1001, 1002


def make_records(kind: str, seed: int, count: int, exclude: Iterable[str] = ()) -> list[dict[str, str]]:
    """`count` records of `kind` ("gptj" | "orca") from one seeded generator.

    `exclude` holds reference outputs that must not appear (the eval set's, when
    drawing training data), so no eval answer is memorised verbatim.
    """
    make = {"gptj": gptj_record, "orca": orca_record}.get(kind)
    if make is None:
        raise ProxyBuildError(f"unknown record kind {kind!r}; expected 'gptj' or 'orca'")
    rng = random.Random(seed)
    banned = set(exclude)
    records: list[dict[str, str]] = []
    while len(records) < count:
        record = make(rng)
        if record["output"] not in banned:
            records.append(record)
    return records


# --------------------------------------------------------------------------
# Tokenizers, trained locally on the training split
# --------------------------------------------------------------------------
GPTJ_EOS = "<|endoftext|>"
LLAMA_UNK, LLAMA_BOS, LLAMA_EOS = "<unk>", "<s>", "</s>"
GPTJ_VOCAB, LLAMA_VOCAB = 1024, 1024
TOKENIZER_TEXTS = 4000


def train_gptj_tokenizer(texts: Iterable[str]):
    """A GPT-2-style byte-level BPE whose only special token is <|endoftext|> (bos = eos = pad)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=GPTJ_VOCAB,
        special_tokens=[GPTJ_EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # pad = eos and left padding, as MLPerf's GPT-J harness sets them at load time.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=GPTJ_EOS,
        eos_token=GPTJ_EOS,
        unk_token=GPTJ_EOS,
        pad_token=GPTJ_EOS,
        padding_side="left",
        model_max_length=GPTJ_POSITIONS,
    )


def train_llama_tokenizer(texts: Iterable[str]):
    """A sentencepiece-style BPE (Metaspace "▁" word prefixes), <unk>=0, <s>=1, </s>=2, bos added."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=LLAMA_UNK))
    # Metaspace makes the "▁word" pieces; punctuation, newlines and single
    # digits are split off as sentencepiece's Llama vocabulary has them, so a
    # name is the same token before "," or "." (what keeps copying learnable).
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first"),
            pre_tokenizers.Split("\n", behavior="isolated"),
            pre_tokenizers.Punctuation(behavior="isolated"),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=LLAMA_VOCAB, special_tokens=[LLAMA_UNK, LLAMA_BOS, LLAMA_EOS], show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    for token, expected in ((LLAMA_UNK, 0), (LLAMA_BOS, 1), (LLAMA_EOS, 2)):
        if tok.token_to_id(token) != expected:
            raise ProxyBuildError(f"llama tokenizer: {token} has id {tok.token_to_id(token)}, expected {expected}")
    if tok.token_to_id("▁") is None:
        raise ProxyBuildError("llama tokenizer: no standalone '▁' token (MLPerf's response-init token)")
    # Llama prepends <s> to every encoded text (so processorca's "<s>[INST]" text
    # starts with two bos ids, as with the real tokenizer).
    tok.post_processor = processors.TemplateProcessing(
        single=f"{LLAMA_BOS} $A", pair=f"{LLAMA_BOS} $A {LLAMA_BOS} $B", special_tokens=[(LLAMA_BOS, 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=LLAMA_BOS,
        eos_token=LLAMA_EOS,
        unk_token=LLAMA_UNK,
        pad_token=LLAMA_EOS,  # MLPerf's Llama-2 SUT sets pad = eos
        padding_side="left",
        model_max_length=LLAMA_POSITIONS,
    )


def gptj_tokenizer_texts() -> list[str]:
    records = make_records("gptj", GPTJ_TRAIN_SEED + 77, TOKENIZER_TEXTS)
    return [gptj_prompt(r) + " " + r["output"] for r in records]


def llama_tokenizer_texts() -> list[str]:
    records = make_records("orca", ORCA_TRAIN_SEED + 77, TOKENIZER_TEXTS)
    return [llama_prompt(r["system_prompt"], r["question"]) + " " + r["output"] for r in records]


# --------------------------------------------------------------------------
# Models and training
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainSettings:
    steps: int
    batch_size: int
    lr: float
    warmup: int
    train_records: int
    weight_decay: float = 0.01


GPTJ_TRAIN = TrainSettings(steps=1500, batch_size=16, lr=3e-3, warmup=100, train_records=24000)
LLAMA_TRAIN = TrainSettings(steps=3000, batch_size=16, lr=3e-3, warmup=100, train_records=24000)


def _set_determinism(seed: int) -> None:
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)


def make_gptj_model(vocab_size: int, eos_id: int):
    from transformers import GPTJConfig, GPTJForCausalLM

    config = GPTJConfig(
        vocab_size=vocab_size,
        n_positions=GPTJ_POSITIONS,
        n_embd=128,
        n_layer=2,
        n_head=4,
        rotary_dim=16,  # partial rotary, as GPT-J-6B (64 of 256 per head)
        n_inner=512,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        tie_word_embeddings=False,
    )
    return GPTJForCausalLM(config)


def make_llama_model(vocab_size: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=LLAMA_POSITIONS,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def train_model(
    model, pairs: Sequence[tuple[list[int], list[int]]], settings: TrainSettings, pad_id: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Next-token training on the response only (prompt positions carry label -100).

    Batches hold sequences of similar length (less padding, faster steps) and
    are drawn by a seeded RNG; the schedule is linear warm-up then cosine decay.
    """
    import math

    import torch

    rng = random.Random(TRAIN_SEED)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    chunks = [order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay, foreach=True
    )

    def lr_at(step: int) -> float:
        if step < settings.warmup:
            return settings.lr * (step + 1) / settings.warmup
        progress = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
        return settings.lr * 0.5 * (1.0 + math.cos(math.pi * progress))

    model.train()
    started = time.perf_counter()
    losses: list[float] = []
    for step in range(settings.steps):
        batch = [pairs[i] for i in chunks[rng.randrange(len(chunks))]]
        width = max(len(p) + len(t) for p, t in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (prompt, target) in enumerate(batch):  # right padding while training
            seq = prompt + target
            ids[row, : len(seq)] = torch.tensor(seq)
            labels[row, len(prompt) : len(seq)] = torch.tensor(target)
            mask[row, : len(seq)] = 1
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if step % 100 == 0 or step == settings.steps - 1:
            log(f"step {step:5d}  loss {sum(losses[-50:]) / len(losses[-50:]):.4f}  {time.perf_counter() - started:6.1f}s")
    model.eval()
    return {
        "steps": settings.steps,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
        "warmup_steps": settings.warmup,
        "schedule": "linear warm-up, cosine decay",
        "optimizer": "AdamW",
        "weight_decay": settings.weight_decay,
        "train_records": settings.train_records,
        "final_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4),
        "train_seconds": round(time.perf_counter() - started, 1),
        "threads": THREADS,
        "precision": "fp32",
    }


# --------------------------------------------------------------------------
# Datasets in MLPerf's on-disk formats
# --------------------------------------------------------------------------
GPTJ_DATASET = "cnn_eval.json"
LLAMA_DATASET = "open_orca.pkl"
GPTJ_MIN_SUMMARY_TOKENS = 31  # > min_new_tokens=30, so the minimum never forces text past the summary
PICKLE_PROTOCOL = 4


def gptj_eval_records() -> list[dict[str, str]]:
    return make_records("gptj", GPTJ_EVAL_SEED, EVAL_SIZE)


def write_gptj_dataset(out_dir: Path) -> Path:
    """Write `cnn_eval.json` (MLPerf's CNN-DailyMail eval format) into out_dir; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / GPTJ_DATASET
    text = json.dumps(gptj_eval_records(), indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def llama_tok_input(tokenizer, prompt: str) -> list[int]:
    """processorca.py's tok_input: the tokenizer's ids (bos added) plus the response-init
    token, the proxy's counterpart of Llama's 29871 ("▁")."""
    return list(tokenizer(prompt)["input_ids"]) + [response_init_id(tokenizer)]


def response_init_id(tokenizer) -> int:
    token_id = tokenizer.convert_tokens_to_ids("▁")
    if not isinstance(token_id, int) or token_id == tokenizer.unk_token_id:
        raise ProxyBuildError("llama tokenizer has no '▁' token for the response-init id")
    return token_id


def llama2_eval_frame(tokenizer):
    """The eval set as processorca.py lays it out (its columns, in its order)."""
    import pandas as pd

    rows = []
    for index, record in enumerate(make_records("orca", ORCA_EVAL_SEED, EVAL_SIZE)):
        prompt = llama_prompt(record["system_prompt"], record["question"])
        tok_input = llama_tok_input(tokenizer, prompt)
        tok_output = list(tokenizer(record["output"])["input_ids"])  # bos included, no init token
        rows.append(
            {
                "id": f"proxy.{index}",
                "system_prompt": record["system_prompt"],
                "question": record["question"],
                "output": record["output"],
                "input": prompt,
                "tok_input": tok_input,
                "tok_output": tok_output,
                "origin": "proxy",
                "tok_input_length": len(tok_input),
                "tok_output_length": len(tok_output),
            }
        )
    frame = pd.DataFrame(rows)
    # Plain object columns (pandas 3 would infer its "str" dtype), as the real pickle has.
    for column in ("id", "system_prompt", "question", "output", "input", "origin"):
        frame[column] = frame[column].astype(object)
    return frame


def write_llama2_dataset(out_dir: Path, tokenizer_dir: Path) -> Path:
    """Write `open_orca.pkl` into out_dir, tokenized by the tokenizer saved in tokenizer_dir."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LLAMA_DATASET
    frame = llama2_eval_frame(tokenizer)
    path.write_bytes(pickle.dumps(frame, protocol=PICKLE_PROTOCOL))
    return path


# --------------------------------------------------------------------------
# Generation and the MLPerf metrics
# --------------------------------------------------------------------------
GPTJ_DECODE: dict[str, Any] = {"num_beams": 4, "min_new_tokens": 30, "max_new_tokens": 128, "early_stopping": True}
# MLPerf's Llama-2 reference decodes greedily with max_new_tokens=1024; the
# proxy's answers are at most ~60 tokens, so 128 bounds a runaway output.
LLAMA_DECODE: dict[str, Any] = {"num_beams": 1, "do_sample": False, "min_new_tokens": 1, "max_new_tokens": 128}
GEN_BATCH = 16
ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def generate(model, prompts: Sequence[Sequence[int]], decode: dict[str, Any], pad_id: int, eos_id: int,
             batch_size: int = GEN_BATCH) -> list[list[int]]:
    """Batched generation with left padding; each response is the new token ids through
    the first eos (inclusive), i.e. what a batch-of-one MLPerf run returns, padding removed."""
    import torch

    responses: list[list[int]] = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        width = max(len(p) for p in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, prompt in enumerate(batch):
            ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids, attention_mask=mask, pad_token_id=pad_id, eos_token_id=eos_id, **decode
            )
        for row in out[:, width:].tolist():
            responses.append(row[: row.index(eos_id) + 1] if eos_id in row else row)
    return responses


def sentence_splitter() -> tuple[Callable[[str], list[str]], str]:
    """nltk's untrained Punkt splitter (the official scripts use punkt's downloaded
    model, which is not available offline); a regex split when nltk is missing."""
    try:
        from nltk.tokenize.punkt import PunktSentenceTokenizer
    except ImportError:
        import re

        return (lambda text: [s for s in re.split(r"(?<=[.!?])\s+", text) if s]), "regex (?<=[.!?])\\s+"
    return PunktSentenceTokenizer().tokenize, "nltk PunktSentenceTokenizer() (untrained)"


def rouge_metrics(predictions: Sequence[str], targets: Sequence[str], token_counts: Sequence[int]) -> dict[str, Any]:
    """ROUGE-1/2/L/Lsum (mean fmeasure x 100, stemmed) and MLPerf's length figures."""
    from rouge_score import rouge_scorer

    split, _ = sentence_splitter()
    preds = ["\n".join(split(p.strip())) for p in predictions]
    refs = ["\n".join(split(t.strip())) for t in targets]
    scorer = rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_KEYS, 0.0)
    for pred, ref in zip(preds, refs):
        scores = scorer.score(ref, pred)
        for key in ROUGE_KEYS:
            totals[key] += scores[key].fmeasure
    result: dict[str, Any] = {key: 100.0 * totals[key] / len(preds) for key in ROUGE_KEYS}
    gen_tok_len = int(sum(token_counts))
    result.update(
        gen_len=int(sum(len(p) for p in preds)),
        gen_num=len(preds),
        gen_tok_len=gen_tok_len,
        tokens_per_sample=round(gen_tok_len / len(preds), 1),
    )
    return result


def with_precision(model, precision: str):
    """A copy of `model` in fp32, bf16 (all weights cast) or dynamic int8 (nn.Linear)."""
    import copy

    import torch

    clone = copy.deepcopy(model).eval()
    if precision == "fp32":
        return clone
    if precision == "bf16":
        return clone.to(torch.bfloat16)
    if precision == "int8_dynamic":
        return torch.ao.quantization.quantize_dynamic(clone, {torch.nn.Linear}, dtype=torch.qint8)
    raise ProxyBuildError(f"unknown precision {precision!r}; expected fp32, bf16 or int8_dynamic")


# --------------------------------------------------------------------------
# Measuring a trained proxy
# --------------------------------------------------------------------------
PRECISIONS = ("fp32", "bf16", "int8_dynamic")
FIRST_N = 4  # samples whose token ids reference.json keeps for the reproduction test


@dataclass(frozen=True)
class EvalSpec:
    """What the accuracy script needs for one proxy's eval set."""

    prompts: list[list[int]]  # token ids as the SUT receives them
    targets: list[str]  # reference outputs
    mismatch_prompts: list[list[int]]  # the same prompts tokenized by the other proxy's tokenizer
    decode: dict[str, Any]
    pad_id: int
    eos_id: int


def _scores(tokenizer, responses: Sequence[Sequence[int]], targets: Sequence[str]) -> dict[str, Any]:
    texts = tokenizer.batch_decode([list(r) for r in responses], skip_special_tokens=True)
    return rouge_metrics(texts, targets, [len(r) for r in responses])


def measure(model, tokenizer, spec: EvalSpec, log: Callable[[str], None]) -> dict[str, Any]:
    """ROUGE per precision, generation time, the tokenizer-mismatch ROUGE and the first samples' ids."""
    import torch

    torch.set_num_threads(THREADS)
    accuracy: dict[str, Any] = {}
    fp32_responses: list[list[int]] = []
    wall: dict[str, float] = {}
    for precision in PRECISIONS:
        try:
            variant = with_precision(model, precision)
        except (RuntimeError, NotImplementedError, AssertionError) as err:  # int8 kernels may be missing
            accuracy[precision] = {"error": f"{type(err).__name__}: {err}"}
            continue
        started = time.perf_counter()
        responses = generate(variant, spec.prompts, spec.decode, spec.pad_id, spec.eos_id)
        wall[precision] = round(time.perf_counter() - started, 2)
        accuracy[precision] = _scores(tokenizer, responses, spec.targets)
        if precision == "fp32":
            fp32_responses = responses
        else:
            same = sum(a == b for a, b in zip(responses, fp32_responses))
            accuracy[precision]["identical_to_fp32"] = same
        log(f"{precision}: rouge1 {accuracy[precision]['rouge1']:.3f}  ({wall[precision]:.1f}s)")
    ratios = {
        precision: {
            key: accuracy[precision][key] / accuracy["fp32"][key] if accuracy["fp32"][key] else None
            for key in ROUGE_KEYS
        }
        for precision in PRECISIONS[1:]
        if "error" not in accuracy[precision]
    }
    keeps_99 = {p: all(r is not None and r >= 0.99 for r in ratios[p].values()) for p in ratios}

    mismatch = generate(model, spec.mismatch_prompts, spec.decode, spec.pad_id, spec.eos_id)
    mismatch_scores = _scores(tokenizer, mismatch, spec.targets)
    log(f"tokenizer mismatch: rouge1 {mismatch_scores['rouge1']:.3f}")

    # The reproduction test generates exactly this batch (the first samples alone).
    first = generate(model, spec.prompts[:FIRST_N], spec.decode, spec.pad_id, spec.eos_id, batch_size=FIRST_N)
    return {
        "accuracy": accuracy,
        "ratio_to_fp32": ratios,
        "keeps_99_percent_of_fp32": keeps_99,
        "tokenizer_mismatch": mismatch_scores,
        "generation": {
            "batch_size": GEN_BATCH,
            "padding_side": "left",
            "threads": THREADS,
            "wall_seconds": wall,
            "samples": len(spec.prompts),
        },
        "first_samples": {
            "indices": list(range(FIRST_N)),
            "batch_size": FIRST_N,
            "precision": "fp32",
            "response_ids": first,
            "equal_to_full_run": first == fp32_responses[:FIRST_N],
        },
    }


def _file_info(path: Path) -> dict[str, Any]:
    import hashlib

    data = path.read_bytes()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _config_summary(model) -> dict[str, Any]:
    keys = (
        "model_type", "vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "rotary_dim", "n_inner",
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "max_position_embeddings", "bos_token_id", "eos_token_id", "pad_token_id", "tie_word_embeddings",
    )
    config = model.config.to_dict()
    return {k: config[k] for k in keys if k in config}


def mismatched_prompts(
    texts: Sequence[str], other_tokenizer, vocab_size: int, max_len: int
) -> tuple[list[list[int]], dict[str, int]]:
    """The prompt texts tokenized by another proxy's tokenizer, made feedable to this model.

    Ids >= vocab_size are folded modulo vocab_size (an embedding look-up would
    fail otherwise), and a prompt longer than max_len keeps its last max_len
    ids (the end of the prompt, where the response starts).
    """
    prompts: list[list[int]] = []
    folded = truncated = 0
    for text in texts:
        ids = list(other_tokenizer(text)["input_ids"])
        folded += sum(i >= vocab_size for i in ids)
        if len(ids) > max_len:
            truncated += 1
            ids = ids[-max_len:]
        prompts.append([i % vocab_size for i in ids])
    return prompts, {"ids_folded_into_vocab": folded, "prompts_truncated": truncated, "max_prompt_tokens": max_len}


# --------------------------------------------------------------------------
# Building each proxy
# --------------------------------------------------------------------------
def _check_lengths(name: str, prompts: Sequence[Sequence[int]], max_new: int, positions: int) -> None:
    for index, prompt in enumerate(prompts):
        if len(prompt) + max_new > positions:
            raise ProxyBuildError(
                f"{name} eval record {index}: prompt of {len(prompt)} tokens + {max_new} new tokens "
                f"exceeds the model's {positions} positions"
            )


def _write_reference(path: Path, reference: dict[str, Any]) -> None:
    path.write_text(json.dumps(reference, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def build_gptj(out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train and measure the GPT-J proxy; writes out/gptj/{cnn_eval.json, model/, reference.json}."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    proxy_dir, model_dir = out / "gptj", out / "gptj" / "model"
    _set_determinism(TRAIN_SEED)
    train_gptj_tokenizer(gptj_tokenizer_texts()).save_pretrained(str(model_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))  # what every consumer loads
    dataset = write_gptj_dataset(proxy_dir)
    records = json.loads(dataset.read_text(encoding="utf-8"))
    prompts = [list(tokenizer(gptj_prompt(r))["input_ids"]) for r in records]
    _check_lengths("gptj", prompts, GPTJ_DECODE["max_new_tokens"], GPTJ_POSITIONS)
    for index, record in enumerate(records):
        n = len(tokenizer(record["output"])["input_ids"])
        if n < GPTJ_MIN_SUMMARY_TOKENS:
            raise ProxyBuildError(f"gptj eval record {index}: 'output' has {n} tokens, expected >= {GPTJ_MIN_SUMMARY_TOKENS}")

    eos = tokenizer.eos_token_id
    train = make_records("gptj", GPTJ_TRAIN_SEED, GPTJ_TRAIN.train_records, exclude=[r["output"] for r in records])
    pairs = [
        (list(tokenizer(gptj_prompt(r))["input_ids"]), list(tokenizer(r["output"])["input_ids"]) + [eos])
        for r in train
    ]
    model = make_gptj_model(len(tokenizer), eos)
    log(f"gptj: {sum(p.numel() for p in model.parameters())} parameters, {len(pairs)} training records")
    training = train_model(model, pairs, GPTJ_TRAIN, eos, log)
    model.save_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()

    mismatch, mismatch_info = mismatched_prompts(
        [gptj_prompt(r) for r in records],
        train_llama_tokenizer(llama_tokenizer_texts()),
        len(tokenizer),
        GPTJ_POSITIONS - GPTJ_DECODE["max_new_tokens"],
    )
    spec = EvalSpec(prompts, [r["output"] for r in records], mismatch, GPTJ_DECODE, eos, eos)
    measured = measure(model, tokenizer, spec, log)
    measured["tokenizer_mismatch"].update(
        how="prompts tokenized by the llama2 proxy's tokenizer, outputs decoded by this tokenizer", **mismatch_info
    )
    reference = {
        "builder": "tools/build_llm_proxies.py",
        "builder_version": BUILDER_VERSION,
        "benchmark": "gptj-99",
        "task": "summarize a synthetic news article: the reference summary is its lead paragraph (two sentences)",
        "model": {
            "class": type(model).__name__,
            "config": _config_summary(model),
            "parameters": sum(p.numel() for p in model.parameters()),
            "files": {p.name: _file_info(p) for p in sorted(model_dir.iterdir()) if p.is_file()},
        },
        "tokenizer": {
            "kind": "byte-level BPE (GPT-2 style), trained locally with tokenizers",
            "vocab_size": len(tokenizer),
            "eos_token": tokenizer.eos_token,
            "eos_token_id": eos,
            "pad_token_id": tokenizer.pad_token_id,
            "padding_side": tokenizer.padding_side,
        },
        "dataset": {
            "file": GPTJ_DATASET,
            **_file_info(dataset),
            "samples": len(records),
            "seed": GPTJ_EVAL_SEED,
            "format": "JSON array of {instruction, input, output} (MLPerf cnn_eval.json)",
            "prompt_template": ALPACA_PROMPT,
            "prompt_tokens": {"min": min(map(len, prompts)), "max": max(map(len, prompts))},
        },
        "decode": {**GPTJ_DECODE, "pad_token_id": eos, "eos_token_id": eos},
        "response": {
            "dtype": "int64",
            "definition": "new token ids only, through the first eos (inclusive); no padding",
        },
        "metric": {
            "rouge": "rouge_score RougeScorer(rouge1, rouge2, rougeL, rougeLsum; use_stemmer=True), "
            "mean fmeasure x 100; predictions and targets stripped, sentences joined with newlines",
            "sentence_split": sentence_splitter()[1],
            "gen_len": "sum of characters of the postprocessed predictions",
        },
        "training": {**training, "seed": TRAIN_SEED, "train_split_seed": GPTJ_TRAIN_SEED, "loss": "response tokens only"},
        **measured,
    }
    _write_reference(proxy_dir / "reference.json", reference)
    return reference


def build_llama2(out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train and measure the Llama-2 proxy; writes out/llama2/{open_orca.pkl, model/, reference.json}."""
    import pandas as pd
    from transformers import AutoModelForCausalLM, AutoTokenizer

    proxy_dir, model_dir = out / "llama2", out / "llama2" / "model"
    _set_determinism(TRAIN_SEED)
    train_llama_tokenizer(llama_tokenizer_texts()).save_pretrained(str(model_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    dataset = write_llama2_dataset(proxy_dir, model_dir)
    frame = pd.read_pickle(dataset)
    prompts = [list(map(int, ids)) for ids in frame["tok_input"]]
    _check_lengths("llama2", prompts, LLAMA_DECODE["max_new_tokens"], LLAMA_POSITIONS)

    eos = tokenizer.eos_token_id
    train = make_records("orca", ORCA_TRAIN_SEED, LLAMA_TRAIN.train_records, exclude=list(frame["output"]))
    pairs = [
        (
            llama_tok_input(tokenizer, llama_prompt(r["system_prompt"], r["question"])),
            list(tokenizer(r["output"])["input_ids"])[1:] + [eos],  # the answer without its bos, then eos
        )
        for r in train
    ]
    model = make_llama_model(len(tokenizer))
    log(f"llama2: {sum(p.numel() for p in model.parameters())} parameters, {len(pairs)} training records")
    training = train_model(model, pairs, LLAMA_TRAIN, eos, log)
    model.save_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()

    mismatch, mismatch_info = mismatched_prompts(
        list(frame["input"]),
        train_gptj_tokenizer(gptj_tokenizer_texts()),
        len(tokenizer),
        LLAMA_POSITIONS - LLAMA_DECODE["max_new_tokens"],
    )
    spec = EvalSpec(prompts, list(frame["output"]), mismatch, LLAMA_DECODE, eos, eos)
    measured = measure(model, tokenizer, spec, log)
    measured["tokenizer_mismatch"].update(
        how="the `input` texts tokenized by the gptj proxy's tokenizer, outputs decoded by this tokenizer",
        **mismatch_info,
    )
    reference = {
        "builder": "tools/build_llm_proxies.py",
        "builder_version": BUILDER_VERSION,
        "benchmark": "llama2-70b-99",
        "task": "answer a question about a list of facts: the answer restates the asked facts in order",
        "model": {
            "class": type(model).__name__,
            "config": _config_summary(model),
            "parameters": sum(p.numel() for p in model.parameters()),
            "files": {p.name: _file_info(p) for p in sorted(model_dir.iterdir()) if p.is_file()},
        },
        "tokenizer": {
            "kind": "sentencepiece-style BPE (Metaspace), trained locally with tokenizers",
            "vocab_size": len(tokenizer),
            "unk_token_id": tokenizer.unk_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": eos,
            "pad_token_id": tokenizer.pad_token_id,
            "padding_side": tokenizer.padding_side,
            "response_init_token_id": response_init_id(tokenizer),
        },
        "dataset": {
            "file": LLAMA_DATASET,
            **_file_info(dataset),
            "samples": len(frame),
            "seed": ORCA_EVAL_SEED,
            "format": "pickled pandas DataFrame with processorca.py's columns",
            "columns": list(frame.columns),
            "prompt_template": {"system": LLAMA_PROMPT_SYSTEM, "no_system": LLAMA_PROMPT_NO_SYSTEM},
            "tok_input": "tokenizer(input) (bos added, so '<s>' text gives two bos ids) + the '▁' "
            "response-init id, as processorca.py appends Llama's 29871",
            "pickle_protocol": PICKLE_PROTOCOL,
            "pandas_version": pd.__version__,
            "prompt_tokens": {"min": min(map(len, prompts)), "max": max(map(len, prompts))},
        },
        "decode": {**LLAMA_DECODE, "pad_token_id": eos, "eos_token_id": eos, "mlperf_max_new_tokens": 1024},
        "response": {
            "dtype": "int32",
            "definition": "new token ids only, through the first eos (inclusive); no padding; "
            "n_tokens = their count",
        },
        "metric": {
            "rouge": "rouge_score RougeScorer(rouge1, rouge2, rougeL, rougeLsum; use_stemmer=True), "
            "mean fmeasure x 100; predictions and targets stripped, sentences joined with newlines",
            "sentence_split": sentence_splitter()[1],
            "tokens_per_sample": "round(gen_tok_len / gen_num, 1)",
        },
        "training": {**training, "seed": TRAIN_SEED, "train_split_seed": ORCA_TRAIN_SEED, "loss": "response tokens only"},
        **measured,
    }
    _write_reference(proxy_dir / "reference.json", reference)
    return reference


BUILDERS: dict[str, Callable[[Path, Callable[[str], None]], dict[str, Any]]] = {
    "gptj": build_gptj,
    "llama2": build_llama2,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--which", choices=[*BUILDERS, "all"], default="all")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder that receives gptj/ and llama2/")
    args = parser.parse_args(argv)
    names = sorted(BUILDERS) if args.which == "all" else [args.which]
    for name in names:
        started = time.perf_counter()
        reference = BUILDERS[name](args.out.resolve(), lambda line, n=name: print(f"[{name}] {line}", flush=True))
        fp32 = reference["accuracy"]["fp32"]
        print(
            f"[{name}] done in {time.perf_counter() - started:.0f}s: fp32 rouge1 {fp32['rouge1']:.3f} "
            f"rouge2 {fp32['rouge2']:.3f} rougeL {fp32['rougeL']:.3f}; mismatch rouge1 "
            f"{reference['tokenizer_mismatch']['rouge1']:.3f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
