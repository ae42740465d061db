#!/usr/bin/env python3
"""Build the bert-99 proxy: a synthetic SQuAD v1.1 dev set and a tiny BERT QA model.

Writes into ``--out`` (default harness/proxies/bert):
  dev-v1.1.json          synthetic SQuAD v1.1 dev set (the real file's schema and name)
  vocab.txt, tokenizer.json, tokenizer_config.json
                         uncased WordPiece vocabulary; harness.benchmarks.bert.squad.load_tokenizer reads it
  bert_proxy.onnx        inputs input_ids/input_mask/segment_ids int64 [batch,384],
                         outputs output_start_logits/output_end_logits float32 [batch,384]
  bert_proxy_int8.onnx   ONNX Runtime dynamic quantization (int8 weights)
  bert_proxy_fp16.onnx   float16 weights, int64 inputs / float32 outputs kept (if onnxconverter-common works)
  torch/                 config.json + model.safetensors (BertForQuestionAnswering.save_pretrained),
                         loaded by harness.models.torch_bert.BertQA.from_dir
  reference.json         EM/F1 of every variant through harness.datasets/metrics.squad, sizes, sha256s

The task is reading, not memorising: each paragraph states random facts about
made-up places ("The capital of Zorvia is Melkar."), 1-3 places and 1-3
relations per place, and the question names one place and one relation
("What is the capital of Zorvia?"). The facts are drawn afresh for every
paragraph, so the answer is only in the context: the model has to match the
question's place and relation to the right sentence, and an answer-type guess
alone (any "About N" for "how many people") scores about 25 F1. One paragraph
in eight is padded with filler past one 384-token window, so its questions
span 2-4 features and the doc-stride / max-context path decides their answer.

The model: BertForQuestionAnswering, 2 layers, hidden 64, 4 heads, trained
from scratch on 30k generated questions (other seeds than dev) on one CPU
thread in about 4 minutes. Two starting points make that possible: a
sinusoidal position table (relative offsets are learnable at once) and two
first-layer heads whose query and key projections start at the identity (a
token attends to copies of itself, so the question's place name finds its
mentions in the context).

Determinism: the datasets and the vocabulary come from fixed seeds and fixed
orderings, byte-identical on every run; the model trains in one thread with
fixed seeds and deterministic algorithms, so two builds on the same machine
write identical files (reference.json included: it holds no timings).

Usage: python tools/build_bert_proxy.py [--out DIR] [--steps N] [--threads N]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from harness.benchmarks.bert import squad  # noqa: E402
from harness.benchmarks.bert import squad_metric as squad_metrics  # noqa: E402

GENERATOR_VERSION = "1"
BUILDER_VERSION = "1"
NAMES_SEED = 20240501  # the made-up word pools, shared by dev and train
DEV_SEED = 1101
TRAIN_SEED = 777001
TORCH_SEED = 1234
DEV_PARAGRAPHS = 150
TRAIN_PARAGRAPHS = 16000  # ~3 passes over the data: reading is learned, not these examples
TRAIN_STEPS = 3000
BATCH_SIZE = 32
LONG_FRACTION = 0.125  # dev paragraphs longer than one 384-token window
# Training sees few long paragraphs: their 384-token windows cost ~10x a short
# paragraph's step, and reading a window is the same skill either way.
TRAIN_LONG_FRACTION = 0.05
VOCAB_SIZE = 4000  # an upper bound; the corpus decides the size
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
OPSET = 17
MODEL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
             max_position_embeddings=512, type_vocab_size=2)
INPUTS = ("input_ids", "input_mask", "segment_ids")
OUTPUTS = ("output_start_logits", "output_end_logits")
OUTPUT_FILES = ("dev-v1.1.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                "bert_proxy.onnx", "bert_proxy_int8.onnx", "bert_proxy_fp16.onnx", "reference.json")
POSITION_SCALE = 0.028  # sinusoid amplitude: std 0.02 like the token embeddings
IDENTITY_HEADS = 2  # first-layer heads whose query/key projections start at the identity
IDENTITY_GAIN = 3.0
LEARNING_RATE = 2e-3
LR_SCHEDULE = "cosine"
MIN_F1 = 80.0  # below this the proxy cannot tell a broken pipeline from a working one


# ------------------------------------------------------------------ the data
_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "tr", "st", "th"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
_CODAS = ["", "", "n", "r", "l", "s", "k", "th"]


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)) + rng.choice(_CODAS)


def name_pools() -> dict[str, list[str]]:
    """Disjoint pools of made-up words: places, cities, people, rivers."""
    rng = random.Random(NAMES_SEED)
    taken: set[str] = set()
    pools: dict[str, list[str]] = {}
    for pool, size in (("place", 160), ("city", 160), ("person", 160), ("river", 80)):
        words: list[str] = []
        while len(words) < size:
            word = _word(rng, rng.choice((2, 2, 3)))
            if word not in taken and len(word) >= 4:
                taken.add(word)
                words.append(word)
        pools[pool] = words
    return pools


TITLES = ["King", "Queen", "Duke", "Duchess", "Chancellor"]
COLOURS = ["red", "blue", "green", "white", "black", "golden", "silver", "grey"]
ANIMALS = ["fox", "owl", "bear", "wolf", "heron", "lynx", "stag", "otter", "falcon", "hare"]
GOODS = ["salt", "wool", "copper", "timber", "glass", "tea", "silk", "iron", "grain", "wine", "amber", "paper"]
FILLER = [
    "Many travellers pass through the region in late summer.",
    "The roads between the towns are narrow and old.",
    "The old records were written by hand and kept in stone halls.",
    "Winters here are long, and the markets close early.",
    "Several old songs describe the valleys and the hills.",
    "Merchants from distant coasts arrive every spring.",
    "The local scholars disagree about many of these accounts.",
    "Most villages hold a small fair after the harvest.",
    "A famous poet once called the coast the edge of the world.",
    "The oldest bridge in the area was rebuilt twice.",
    "Fishing boats leave the harbour before dawn.",
    "The mountain passes are closed for most of the winter.",
    "Children learn the old dances at an early age.",
    "Visitors often remark on the colour of the rooftops.",
    "The annual census is carried out by the temple clerks.",
    "Few maps of the interior survive from that period.",
]
RELATIONS = ("capital", "ruler", "founded", "river", "animal", "population", "export")


def _word_count(sentence: str) -> int:
    """Words and sentence punctuation ("Melkar." is 2), the measure long paragraphs are filled to."""
    return len(re.sub(r"(?<=\S)([.,?])(?=\s|$)", r" \1", sentence).split())


def _fact(rng: random.Random, pools: dict[str, list[str]], relation: str, place: str):
    """(sentence, where its canonical answer starts, [(ground truth start - canonical start, length)], question).

    The canonical answer (the first ground truth, the training target) is a
    span of the sentence; the other ground truths are variants an annotator
    would give, as in the real dev set: a shorter or longer span, or the same
    span again.
    """
    place = place.title()
    if relation == "capital":
        answer = rng.choice(pools["city"]).title()
        template = rng.choice(["The capital of {p} is {a}.", "{a} is the capital of {p}."])
        question = rng.choice(["What is the capital of {p}?", "Which city is the capital of {p}?"])
        truths = [(0, len(answer)), (0, len(answer))]
    elif relation == "ruler":
        title, person = rng.choice(TITLES), rng.choice(pools["person"]).title()
        answer = f"{title} {person}"
        template = rng.choice(["{p} is ruled by {a}.", "The ruler of {p} is {a}."])
        question = rng.choice(["Who rules {p}?", "Who is the ruler of {p}?"])
        truths = [(0, len(answer)), (len(title) + 1, len(person)), (0, len(answer))]
    elif relation == "founded":
        answer = str(rng.randrange(1100, 1990))
        template = rng.choice(["{p} was founded in {a}.", "in {a}, {p} was founded."])
        question = rng.choice(["When was {p} founded?", "In what year was {p} founded?"])
        truths = [(0, 4), (-3, 7), (0, 4)]  # "1432", "in 1432", "1432"
    elif relation == "river":
        river = rng.choice(pools["river"]).title()
        answer = f"the {river} river"
        template, question = "The main river of {p} is {a}.", "What is the main river of {p}?"
        truths = [(0, len(answer)), (4, len(river) + 6), (4, len(river))]
    elif relation == "animal":
        answer = f"{rng.choice(COLOURS)} {rng.choice(ANIMALS)}"
        template, question = "The national animal of {p} is the {a}.", "What is the national animal of {p}?"
        truths = [(0, len(answer)), (-4, len(answer) + 4)]
    elif relation == "population":
        count = f"{rng.randrange(2, 99)},{rng.randrange(0, 10)}00"
        answer = f"about {count}"
        template, question = "{a} people live in {p}.", "How many people live in {p}?"
        truths = [(0, len(answer)), (6, len(count))]
    elif relation == "export":
        first, second = rng.sample(GOODS, 2)
        answer = f"{first} and {second}"
        template, question = "{p} mostly exports {a}.", "What does {p} mostly export?"
        truths = [(0, len(answer)), (0, len(answer))]
    else:
        raise ValueError(f"unknown relation {relation!r}")
    truths = truths[: rng.randint(1, len(truths))]  # 1-3 ground truths, like real dev
    sentence = template.format(p=place, a=answer)
    sentence = sentence[0].upper() + sentence[1:]  # "About 41,000 people ...", "In 1432, ..."
    # Where the answer starts, from the template (a name may contain another name as a substring).
    answer_at = len(template.split("{a}")[0].format(p=place))
    return sentence, answer_at, truths, question.format(p=place)


def _paragraph(rng: random.Random, pools: dict[str, list[str]], long: bool):
    """(context, [(question, [ground truth texts], [their answer_start])]).

    A paragraph holds 1-3 places with 1-3 facts each (long ones: 2-3 places
    with 2-4 facts), in random order. Long paragraphs are padded with filler
    sentences to 420-800 words, so they run to 2-4 windows of 384 tokens
    while the number of same-relation distractors stays that of a short one.
    """
    n_places = rng.randint(2, 3) if long else rng.randint(1, 3)
    places = rng.sample(pools["place"], n_places)
    facts = []  # (place, relation) pairs: each place has each relation at most once
    for place in places:
        for relation in rng.sample(RELATIONS, rng.randint(2, 4) if long else rng.randint(1, 3)):
            facts.append((place, relation))
    rng.shuffle(facts)
    sentences: list = [_fact(rng, pools, relation, place) for place, relation in facts]
    if long:
        target, words = rng.randint(420, 800), sum(_word_count(s[0]) for s in sentences)
        while words < target:
            filler = rng.choice(FILLER)
            sentences.insert(rng.randint(0, len(sentences)), filler)
            words += _word_count(filler)
    else:
        for position in range(len(sentences), 0, -1):  # a filler after some facts
            if rng.random() < 0.3:
                sentences.insert(position, rng.choice(FILLER))
    context = ""
    asked = []
    for item in sentences:
        sentence = item if isinstance(item, str) else item[0]
        start = len(context) + (1 if context else 0)
        context = f"{context} {sentence}" if context else sentence
        if not isinstance(item, str):
            _, answer_at, truths, question = item
            starts = [start + answer_at + delta for delta, _ in truths]
            asked.append((question, [context[b:b + n] for b, (_, n) in zip(starts, truths)], starts))
    n_questions = min(len(asked), rng.randint(2, 3) if long else rng.randint(1, 3))
    return context, rng.sample(asked, n_questions)


def generate_squad(seed: int, paragraphs: int, prefix: str, long_fraction: float = LONG_FRACTION) -> dict:
    """A SQuAD v1.1 document: articles of 4 paragraphs, 1-3 questions each, every question with 1-3 answers."""
    rng = random.Random(seed)
    pools = name_pools()
    data = []
    for p in range(paragraphs):
        if p % 4 == 0:
            data.append({"title": f"synthetic_atlas_{prefix}_{p // 4:04d}", "paragraphs": []})
        context, qas = _paragraph(rng, pools, long=rng.random() < long_fraction)
        data[-1]["paragraphs"].append({"context": context, "qas": [
            {"answers": [{"answer_start": s, "text": t} for t, s in zip(truths, starts)],
             "question": question, "id": f"{prefix}{p:05d}{q:02d}"}
            for q, (question, truths, starts) in enumerate(qas)]})
    return {"version": "1.1", "data": data}


def write_json(document: dict, path: Path) -> None:
    path.write_text(json.dumps(document, indent=None, sort_keys=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- vocabulary
def vocabulary(texts: list[str]) -> list[str]:
    """An uncased WordPiece vocabulary for ``texts``, the same list on every run.

    Words are what BERT's own normaliser and pre-tokenizer (from `tokenizers`)
    make of the text. The vocabulary holds the special tokens ([PAD] first, so
    padding is id 0), every character alone and as a "##" continuation (no
    word is ever [UNK]), the two-digit numbers alone and as continuations, and
    then the words seen twice or more, most frequent first. Longer numbers are
    left out on purpose, so years and counts split into word pieces
    ("1432" -> "14", "##32") and answers are rebuilt from several pieces.
    (The `tokenizers` WordPiece trainer breaks count ties in hash order, which
    changes from one process to the next: its vocabulary would not repeat.)
    """
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=True,
                                            lowercase=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    counts: dict[str, int] = {}
    for text in texts:
        for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text)):
            counts[word] = counts.get(word, 0) + 1
    chars = sorted({c for word in counts for c in word})
    pairs = [f"{i:02d}" for i in range(100)]
    tokens = SPECIAL_TOKENS + chars + [f"##{c}" for c in chars] + pairs + [f"##{p}" for p in pairs]
    words = sorted((w for w, n in counts.items() if n >= 2 and not (w.isdigit() and len(w) > 2)),
                   key=lambda w: (-counts[w], w))
    seen = set(tokens)
    tokens += [w for w in words if w not in seen]
    if len(tokens) > VOCAB_SIZE:
        raise ValueError(f"the corpus needs {len(tokens)} tokens, more than VOCAB_SIZE={VOCAB_SIZE}")
    return tokens


def build_vocab(texts: list[str], out_dir: Path):
    """Write vocab.txt (+ the tokenizer files save_pretrained adds); returns load_tokenizer(out_dir)."""
    for stale in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (out_dir / stale).unlink(missing_ok=True)
    (out_dir / squad.VOCAB_FILE).write_text("\n".join(vocabulary(texts)) + "\n", encoding="utf-8")
    tokenizer = squad.load_tokenizer(out_dir)  # from vocab.txt alone, as for MLPerf's real vocabulary
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(str(out_dir))
    return squad.load_tokenizer(out_dir)


# ------------------------------------------------------------------ training
def _labels(examples: list[squad.SquadExample], starts: list[int], features: squad.SquadFeatures):
    """Token start/end of each feature's canonical answer; (0, 0) = [CLS] when the window misses it."""
    labels = np.zeros((len(features), 2), dtype=np.int64)
    for row in range(len(features)):
        index = int(features.example_index[row])
        begin, end = starts[index], starts[index] + len(examples[index].answers[0])
        token_start, token_end = features.token_start[row], features.token_end[row]
        inside = (token_start >= begin) & (token_end <= end) & (token_start >= 0)
        positions = np.flatnonzero(inside)
        if positions.size:
            labels[row] = positions[0], positions[-1]
    return labels


def training_rows(features: squad.SquadFeatures, labels: np.ndarray) -> np.ndarray:
    """The windows to train on: every window holding its answer, and one other window per question.

    A long paragraph's windows without the answer teach "not here" ([CLS]);
    one per question is enough, and each costs a full 384-token step.
    """
    rng = np.random.default_rng(TORCH_SEED)
    keep = labels[:, 0] > 0
    for example in np.unique(features.example_index):
        misses = np.flatnonzero((features.example_index == example) & ~keep)
        if misses.size:
            keep[rng.choice(misses)] = True
    return np.flatnonzero(keep)


def _answer_starts(document: dict) -> list[int]:
    """answer_start of each question's first (canonical) answer, in read_squad's order."""
    return [qa["answers"][0]["answer_start"] for article in document["data"]
            for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


def make_model(vocab_size: int):
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    config = BertConfig(vocab_size=vocab_size, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        pad_token_id=0, **MODEL)
    torch.manual_seed(TORCH_SEED)
    model = BertForQuestionAnswering(config)
    # Sinusoidal start for the position table: attention by relative offset
    # ("the word after 'is'") is then learnable in minutes instead of hours.
    positions = torch.arange(config.max_position_embeddings, dtype=torch.float32)[:, None]
    freqs = torch.exp(torch.arange(0, config.hidden_size, 2, dtype=torch.float32)
                      * (-np.log(10000.0) / config.hidden_size))
    table = torch.zeros(config.max_position_embeddings, config.hidden_size)
    table[:, 0::2], table[:, 1::2] = torch.sin(positions * freqs), torch.cos(positions * freqs)
    with torch.no_grad():
        # Same spread as the token embeddings (std 0.02): larger, positions drown the token identities.
        model.bert.embeddings.position_embeddings.weight.copy_(table * POSITION_SCALE)
        if IDENTITY_HEADS:
            # Let the first layer's first heads start out attending to copies of the same token
            # (query and key projections near the identity): matching the question's place name
            # to the context's is the skill the task needs, and gradient descent finds it slowly.
            attention = model.bert.encoder.layer[0].attention.self
            width = IDENTITY_HEADS * config.hidden_size // config.num_attention_heads
            eye = torch.eye(config.hidden_size)[:width]
            attention.query.weight[:width] = eye * IDENTITY_GAIN
            attention.key.weight[:width] = eye * IDENTITY_GAIN
    return model


def train(model, features: squad.SquadFeatures, labels: np.ndarray, rows: np.ndarray, steps: int,
          batch_size: int, lr: float = LEARNING_RATE, log_every: int = 100) -> float:
    """AdamW, 5% warm-up then cosine decay, on the feature ``rows``; returns the seconds it took."""
    import torch

    input_ids, input_mask = features.input_ids[rows], features.input_mask[rows]
    segment_ids, labels = features.segment_ids[rows], labels[rows]

    torch.manual_seed(TORCH_SEED)
    rng = np.random.default_rng(TORCH_SEED)
    lengths = input_mask.sum(axis=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 20)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        done = (step - warmup) / max(1, steps - warmup)
        return 0.5 * (1 + np.cos(np.pi * done)) if LR_SCHEDULE == "cosine" else max(0.0, 1 - done)

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    began = time.perf_counter()
    order: list[int] = []
    running = 0.0
    for step in range(steps):
        if len(order) < batch_size:
            # Batches of similar length: trimming the padding makes a step on short paragraphs cheap.
            perm = rng.permutation(len(rows))
            chunks = [perm[i:i + batch_size * 50] for i in range(0, len(perm), batch_size * 50)]
            order = [int(i) for chunk in chunks for i in chunk[np.argsort(lengths[chunk], kind="stable")]]
            blocks = [order[i:i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
            rng.shuffle(blocks)
            order = [i for block in blocks for i in block]
        batch, order = np.asarray(order[:batch_size]), order[batch_size:]
        width = int(lengths[batch].max())
        ids = torch.from_numpy(input_ids[batch, :width])
        mask = torch.from_numpy(input_mask[batch, :width])
        seg = torch.from_numpy(segment_ids[batch, :width])
        target = torch.from_numpy(labels[batch])
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=seg)
        loss = (loss_fn(out.start_logits, target[:, 0]) + loss_fn(out.end_logits, target[:, 1])) / 2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if log_every and (step + 1) % log_every == 0:
            print(f"  step {step + 1}/{steps} loss {running:.3f} ({time.perf_counter() - began:.0f} s)", flush=True)
    model.eval()
    return time.perf_counter() - began


# ------------------------------------------------------------------- export
def export_onnx(torch_dir: Path, path: Path) -> None:
    """The ONNX model, traced from harness.models.torch_bert.BertQA: the module the PyTorch backend runs."""
    import torch

    from harness.models.torch_bert import BertQA

    model = BertQA.from_dir(torch_dir)
    # Batch 2: a batch of 1 could be specialised away and break the dynamic batch axis.
    example = tuple(torch.ones(2, squad.MAX_SEQ_LENGTH, dtype=torch.int64) for _ in INPUTS)
    axes = {name: {0: "batch"} for name in INPUTS + OUTPUTS}
    torch.onnx.export(model, example, str(path), input_names=list(INPUTS), output_names=list(OUTPUTS),
                      dynamic_axes=axes, opset_version=OPSET, dynamo=False, do_constant_folding=True)


def export_int8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)


def export_fp16(src: Path, dst: Path) -> str | None:
    """float16 weights and compute, int64 inputs and float32 outputs kept; the reason when it cannot."""
    try:
        import onnx
        from onnxconverter_common import float16
    except ImportError as exc:
        return f"onnxconverter-common not installed ({exc})"
    model = float16.convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
    return None


# ---------------------------------------------------------------- measuring
def ort_logits(path: Path, samples: np.ndarray, batch_size: int = 32, threads: int = 2):
    """{feature index: [384, 2]} from an ONNX file, and milliseconds per batch of ``batch_size``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    out: dict[int, np.ndarray] = {}
    times = []
    for begin in range(0, len(samples), batch_size):
        chunk = samples[begin:begin + batch_size]
        feed = {name: np.ascontiguousarray(chunk[:, i]) for i, name in enumerate(INPUTS)}
        t0 = time.perf_counter()
        start, end = session.run(list(OUTPUTS), feed)
        if len(chunk) == batch_size:
            times.append(time.perf_counter() - t0)
        for i, row in enumerate(np.stack([start, end], axis=-1).astype(np.float32)):
            out[begin + i] = row
    return out, 1000.0 * float(np.median(times)) if times else None


def torch_logits(model_dir: Path, samples: np.ndarray, dtype: str, batch_size: int = 32):
    import torch

    from harness.models.torch_bert import BertQA

    model = BertQA.from_dir(model_dir).eval()
    model.to(getattr(torch, {"fp32": "float32", "bf16": "bfloat16"}[dtype]))
    out: dict[int, np.ndarray] = {}
    with torch.inference_mode():
        for begin in range(0, len(samples), batch_size):
            chunk = torch.from_numpy(samples[begin:begin + batch_size])
            start, end = model(chunk[:, 0], chunk[:, 1], chunk[:, 2])
            for i, row in enumerate(torch.stack([start, end], dim=-1).float().numpy()):
                out[begin + i] = row
    return out


def score(examples, features, logits) -> dict:
    predictions = squad_metrics.predictions_from_logits(examples, features, logits)
    return squad_metrics.evaluate(examples, predictions)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "harness" / "proxies" / "bert")
    parser.add_argument("--steps", type=int, default=TRAIN_STEPS, help="training steps")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads while training (1: the fastest on a shared 2-core machine, and repeatable)")
    parser.add_argument("--train-paragraphs", type=int, default=TRAIN_PARAGRAPHS)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    # A file this script no longer writes (an fp16 model it could not build) must not linger.
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "torch", ignore_errors=True)

    dev_doc = generate_squad(DEV_SEED, DEV_PARAGRAPHS, "dev")
    train_doc = generate_squad(TRAIN_SEED, args.train_paragraphs, "train", TRAIN_LONG_FRACTION)
    write_json(dev_doc, out / "dev-v1.1.json")
    train_texts = [p["context"] for a in train_doc["data"] for p in a["paragraphs"]]
    train_texts += [qa["question"] for a in train_doc["data"] for p in a["paragraphs"] for qa in p["qas"]]
    tokenizer = build_vocab(train_texts, out)

    dev = squad.read_squad(out / "dev-v1.1.json")
    dev_features = squad.build_features(dev, tokenizer)
    with tempfile.TemporaryDirectory() as scratch:  # the training set is not committed
        write_json(train_doc, Path(scratch) / "train-v1.1.json")
        train_examples = squad.read_squad(Path(scratch) / "train-v1.1.json")
    train_features = squad.build_features(train_examples, tokenizer)
    labels = _labels(train_examples, _answer_starts(train_doc), train_features)
    print(f"dev: {len(dev)} questions, {len(dev_features)} features; "
          f"train: {len(train_examples)} questions, {len(train_features)} features; vocab {len(tokenizer)}")

    model = make_model(len(tokenizer))
    rows = training_rows(train_features, labels)
    seconds = train(model, train_features, labels, rows, args.steps, args.batch_size)
    print(f"trained in {seconds:.0f} s")
    model.save_pretrained(str(out / "torch"))
    export_onnx(out / "torch", out / "bert_proxy.onnx")
    export_int8(out / "bert_proxy.onnx", out / "bert_proxy_int8.onnx")
    fp16_problem = export_fp16(out / "bert_proxy.onnx", out / "bert_proxy_fp16.onnx")

    samples = squad.stack_samples(dev_features)
    variants: dict[str, dict] = {}
    ms: dict[str, float | None] = {}
    onnx_files = {"onnxruntime-fp32": "bert_proxy.onnx", "onnxruntime-int8": "bert_proxy_int8.onnx"}
    if fp16_problem is None:
        onnx_files["onnxruntime-fp16"] = "bert_proxy_fp16.onnx"
    for name, file in onnx_files.items():
        logits, ms[name] = ort_logits(out / file, samples)
        variants[name] = {**score(dev, dev_features, logits), "model_file": file}
    for dtype in ("fp32", "bf16"):
        variants[f"pytorch-{dtype}"] = {**score(dev, dev_features, torch_logits(out / "torch", samples, dtype)),
                                        "model_file": "torch/model.safetensors"}
    for name, result in variants.items():
        timing = f", {ms[name]:.1f} ms per batch of 32" if ms.get(name) else ""
        print(f"  {name}: EM {result['exact_match']:.3f} F1 {result['f1']:.3f}{timing}")

    reference = {
        "builder": "tools/build_bert_proxy.py",
        "builder_version": BUILDER_VERSION,
        "generator_version": GENERATOR_VERSION,
        "model": "bert-99",
        "metric": "SQuAD v1.1 F1 and exact match, percent",
        "dataset": {"file": "dev-v1.1.json", "examples": len(dev), "features": len(dev_features),
                    "seeds": {"names": NAMES_SEED, "dev": DEV_SEED, "train": TRAIN_SEED},
                    "train_examples": len(train_examples), "train_features": len(train_features),
                    "max_seq_length": squad.MAX_SEQ_LENGTH, "doc_stride": squad.DOC_STRIDE,
                    "max_query_length": squad.MAX_QUERY_LENGTH,
                    "multi_feature_examples": int(np.sum(np.bincount(dev_features.example_index) > 1))},
        "model_config": {**MODEL, "vocab_size": len(tokenizer)},
        # No timings here: a rebuild on the same machine writes this file byte for byte again.
        "training": {"steps": args.steps, "batch_size": args.batch_size, "threads": args.threads,
                     "learning_rate": LEARNING_RATE, "schedule": LR_SCHEDULE, "torch_seed": TORCH_SEED},
        "variants": variants,
        # The gate's FP32 reference: ONNX Runtime fp32 through harness.datasets/metrics.squad.
        "reference": {"f1": variants["onnxruntime-fp32"]["f1"],
                      "exact_match": variants["onnxruntime-fp32"]["exact_match"]},
        "fp16_skipped": fp16_problem,
        "files": {p.relative_to(out).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256(p)}
                  for p in sorted(out.rglob("*")) if p.is_file() and p.name != "reference.json"},
    }
    (out / "reference.json").write_text(json.dumps(reference, indent=2, sort_keys=True) + "\n")
    if variants["onnxruntime-fp32"]["f1"] < MIN_F1:
        print(f"error: fp32 F1 {variants['onnxruntime-fp32']['f1']:.2f} < {MIN_F1}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
