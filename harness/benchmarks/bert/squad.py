"""SQuAD v1.1 reading and MLPerf BERT's feature building (seq 384, stride 128).

One LoadGen query sample is one *feature*: a window of a question's context
that fits 384 tokens together with the question,

    [CLS] query (<= 64 tokens) [SEP] context window [SEP] 0-padding

with ``segment_ids`` 0 over ``[CLS] query [SEP]`` and 1 over the window and its
closing ``[SEP]``. A context longer than the space left is cut into windows
whose starts are 128 tokens apart (MLPerf's create_squad_data.py, the original
BERT run_squad). Feature order is the query-sample index order: examples in
file order, each example's windows in order.

Where the MLPerf reference keeps a token -> whitespace-word map and re-aligns
the predicted WordPiece text with the original words afterwards
(``get_final_text``), we keep each token's character span in the context (from
the fast tokenizer's offsets): an answer is then ``context[start:end]``,
exactly the text the reference recovers on ordinary text. The tokens are the
same in both: WordPiece on BERT's basic tokenization (whitespace, punctuation,
lower-casing, accent stripping), whether run word by word or on the whole
context.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from harness.datasets.base import DatasetFormatError

MAX_SEQ_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
SQUAD_VERSION = "1.1"
# Bumped whenever build_features could produce different arrays: it keys caches.
PIPELINE_VERSION = "mlperf-bert-squad-v1.1/1"
VOCAB_FILE = "vocab.txt"


class SquadError(DatasetFormatError):
    """A SQuAD file, tokenizer folder or feature file is not what MLPerf BERT expects."""


@dataclass(frozen=True)
class SquadExample:
    """One question: its id, text, the paragraph it asks about and every ground-truth answer text."""

    qas_id: str
    question: str
    context: str
    answers: tuple[str, ...]


# --------------------------------------------------------------------- reading
def _field(record: object, name: str, kind: type, where: str) -> object:
    if not isinstance(record, dict):
        raise SquadError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if name not in record:
        raise SquadError(f"{where}: missing field {name!r}")
    value = record[name]
    # bool is an int subclass; an answer_start of true is still malformed.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SquadError(f"{where}: field {name!r} is {type(value).__name__}, expected {kind.__name__}")
    return value


def read_squad(path: str | Path) -> list[SquadExample]:
    """Every question of a SQuAD v1.1 JSON file, in file order (the order features are built in).

    Only what evaluation needs is required (the article ``title`` is not); a
    missing or mistyped field, a question without answers or a repeated id is
    an error naming the file, the article/paragraph/question index, the id and
    the field.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SquadError(f"{path}: no such file (expected the SQuAD v1.1 dev set, dev-v1.1.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SquadError(f"{path}: not valid JSON ({exc})") from None
    version = _field(document, "version", str, f"{path}")
    if version != SQUAD_VERSION:
        # SQuAD 2.0 adds unanswerable questions, which this metric would score wrongly.
        raise SquadError(f"{path}: field 'version' is {version!r}, expected {SQUAD_VERSION!r} (SQuAD v1.1)")
    articles = _field(document, "data", list, f"{path}")
    examples: list[SquadExample] = []
    seen: dict[str, str] = {}
    for a, article in enumerate(articles):
        where_a = f"{path}: data[{a}]"
        for p, paragraph in enumerate(_field(article, "paragraphs", list, where_a)):
            where_p = f"{where_a}.paragraphs[{p}]"
            context = _field(paragraph, "context", str, where_p)
            for q, qa in enumerate(_field(paragraph, "qas", list, where_p)):
                where_q = f"{where_p}.qas[{q}]"
                qas_id = _field(qa, "id", str, where_q)
                where_q = f"{where_q} (id {qas_id!r})"
                if qas_id in seen:
                    raise SquadError(f"{where_q}: id repeats {seen[qas_id]}; predictions are keyed by id")
                seen[qas_id] = where_q
                question = _field(qa, "question", str, where_q)
                answers = _field(qa, "answers", list, where_q)
                if not answers:
                    raise SquadError(f"{where_q}: field 'answers' is empty; v1.1 has at least one answer per question")
                texts = []
                for n, answer in enumerate(answers):
                    where_n = f"{where_q}.answers[{n}]"
                    texts.append(_field(answer, "text", str, where_n))
                    _field(answer, "answer_start", int, where_n)
                examples.append(SquadExample(qas_id, question, context, tuple(texts)))
    if not examples:
        raise SquadError(f"{path}: holds no questions")
    return examples


# ------------------------------------------------------------------- tokenizer
def load_tokenizer(directory: str | Path):
    """The uncased WordPiece tokenizer in ``directory`` as a ``BertTokenizerFast``.

    Loaded with ``from_pretrained(directory)``: a folder with only MLPerf's
    ``vocab.txt`` works, and so does one saved by ``save_pretrained``. (Not
    ``BertTokenizerFast(vocab_file=...)``: transformers 5 ignores that argument
    and maps every word to [UNK] without a word of warning.)
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SquadError(f"tokenizer folder {directory} does not exist (expected a folder holding {VOCAB_FILE})")
    if not (directory / VOCAB_FILE).is_file() and not (directory / "tokenizer.json").is_file():
        raise SquadError(f"tokenizer folder {directory} has no {VOCAB_FILE} (nor tokenizer.json)")
    from transformers import BertTokenizerFast  # heavy import, only when a tokenizer is needed

    try:
        tokenizer = BertTokenizerFast.from_pretrained(str(directory))
    except (OSError, ValueError) as exc:
        raise SquadError(f"tokenizer folder {directory}: cannot load a BERT WordPiece tokenizer: {exc}") from exc
    # transformers appends missing special tokens as new ids past the vocabulary,
    # ids the model has no embedding for: they must be in the vocabulary file itself.
    vocab = tokenizer.get_vocab()
    size = tokenizer.vocab_size
    missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]") if vocab.get(t, size) >= size]
    if missing:
        raise SquadError(f"tokenizer folder {directory}: the vocabulary lacks {missing}; "
                         "BERT needs [PAD], [UNK], [CLS] and [SEP]")
    if vocab["[PAD]"] != 0:
        # MLPerf pads input_ids with 0: that must be the [PAD] token.
        raise SquadError(f"tokenizer folder {directory}: [PAD] has id {vocab['[PAD]']}, expected 0")
    return tokenizer


# -------------------------------------------------------------------- features
@dataclass
class SquadFeatures:
    """All features of a dataset, one row per LoadGen query sample.

    ``token_start``/``token_end`` hold each token's character span in its
    example's context (end exclusive), -1 for [CLS], query, [SEP] and padding;
    ``max_context`` marks the tokens whose window is their "max context" one
    (the window where the token has the most context on its shorter side).
    """

    input_ids: np.ndarray      # int64 [F, L]
    input_mask: np.ndarray     # int64 [F, L]
    segment_ids: np.ndarray    # int64 [F, L]
    example_index: np.ndarray  # int64 [F]
    doc_span_index: np.ndarray  # int64 [F]: window number within its example
    token_start: np.ndarray    # int64 [F, L]
    token_end: np.ndarray      # int64 [F, L]
    max_context: np.ndarray    # bool [F, L]

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def seq_length(self) -> int:
        return int(self.input_ids.shape[1])

    def save(self, path: str | Path) -> None:
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        np.savez(Path(path), pipeline_version=np.array(PIPELINE_VERSION), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "SquadFeatures":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                stored = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise SquadError(f"{path}: no such feature file") from None
        except (OSError, ValueError) as exc:
            raise SquadError(f"{path}: not a SquadFeatures .npz file ({exc})") from None
        version = str(stored.pop("pipeline_version", "<none>"))
        if version != PIPELINE_VERSION:
            raise SquadError(f"{path}: built by pipeline {version!r}, expected {PIPELINE_VERSION!r}; rebuild it")
        missing = [f.name for f in fields(cls) if f.name not in stored]
        if missing:
            raise SquadError(f"{path}: missing array(s) {missing}")
        features = cls(**{f.name: stored[f.name] for f in fields(cls)})
        features.validate(str(path))
        return features

    def validate(self, where: str) -> None:
        n, length = self.input_ids.shape
        for f in fields(self):
            array = getattr(self, f.name)
            shape = (n,) if f.name in ("example_index", "doc_span_index") else (n, length)
            dtype = np.bool_ if f.name == "max_context" else np.int64
            if array.shape != shape or array.dtype != dtype:
                raise SquadError(f"{where}: array {f.name!r} is {array.dtype}{list(array.shape)}, "
                                 f"expected {np.dtype(dtype)}{list(shape)}")


def _doc_spans(n_tokens: int, max_tokens: int, stride: int) -> list[tuple[int, int]]:
    """(start, length) windows over the context, as MLPerf cuts them."""
    spans = []
    start = 0
    while start < n_tokens:
        length = min(n_tokens - start, max_tokens)
        spans.append((start, length))
        if start + length == n_tokens:
            break
        start += min(length, stride)
    return spans


def _best_span_per_token(spans: list[tuple[int, int]], n_tokens: int) -> np.ndarray:
    """For each context token, the window in which it has the most context.

    Score = min(left, right context) + 0.01 * window length; the first window
    with the highest score wins (a strict ``>``), as in MLPerf's reference.
    """
    positions = np.arange(n_tokens)
    best_score = np.full(n_tokens, -np.inf)
    best = np.full(n_tokens, -1, dtype=np.int64)
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        inside = (positions >= start) & (positions <= end)
        score = np.minimum(positions - start, end - positions) + 0.01 * length
        better = inside & (score > best_score)
        best_score[better] = score[better]
        best[better] = index
    return best


def build_features(examples: list[SquadExample], tokenizer, max_seq_length: int = MAX_SEQ_LENGTH,
                   doc_stride: int = DOC_STRIDE, max_query_length: int = MAX_QUERY_LENGTH) -> SquadFeatures:
    """MLPerf BERT's features for ``examples``, in query-sample order."""
    cls_id, sep_id = tokenizer.convert_tokens_to_ids("[CLS]"), tokenizer.convert_tokens_to_ids("[SEP]")
    # verbose=False: a context longer than the model's 512 positions is expected here, it is windowed below.
    queries = tokenizer([e.question for e in examples], add_special_tokens=False, verbose=False)["input_ids"]
    contexts = sorted({e.context for e in examples})  # paragraphs are shared by several questions
    encoded = tokenizer(contexts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    by_context = {c: (ids, offsets) for c, ids, offsets in
                  zip(contexts, encoded["input_ids"], encoded["offset_mapping"])}

    rows: dict[str, list] = {k: [] for k in ("ids", "mask", "seg", "example", "span", "start", "end", "maxc")}
    for example_index, example in enumerate(examples):
        query = list(queries[example_index][:max_query_length])
        doc_ids, doc_offsets = by_context[example.context]
        doc_offsets = np.asarray(doc_offsets, dtype=np.int64).reshape(-1, 2)
        max_tokens_for_doc = max_seq_length - len(query) - 3  # [CLS], [SEP], [SEP]
        spans = _doc_spans(len(doc_ids), max_tokens_for_doc, doc_stride)
        best = _best_span_per_token(spans, len(doc_ids))
        # A context with no tokens yields no feature at all, as in MLPerf (the question then goes unanswered).
        offset = len(query) + 2  # where the window starts in the sequence
        for span_index, (start, length) in enumerate(spans):
            ids = np.zeros(max_seq_length, dtype=np.int64)
            mask = np.zeros(max_seq_length, dtype=np.int64)
            seg = np.zeros(max_seq_length, dtype=np.int64)
            tok_start = np.full(max_seq_length, -1, dtype=np.int64)
            tok_end = np.full(max_seq_length, -1, dtype=np.int64)
            maxc = np.zeros(max_seq_length, dtype=bool)
            sequence = [cls_id, *query, sep_id, *doc_ids[start:start + length], sep_id]
            ids[:len(sequence)] = sequence
            mask[:len(sequence)] = 1
            seg[offset:len(sequence)] = 1
            window = slice(offset, offset + length)
            tok_start[window] = doc_offsets[start:start + length, 0]
            tok_end[window] = doc_offsets[start:start + length, 1]
            maxc[window] = best[start:start + length] == span_index
            for key, value in (("ids", ids), ("mask", mask), ("seg", seg), ("start", tok_start),
                               ("end", tok_end), ("maxc", maxc), ("example", example_index), ("span", span_index)):
                rows[key].append(value)
    if not rows["ids"]:
        raise SquadError("build_features: no examples given")
    return SquadFeatures(
        input_ids=np.stack(rows["ids"]), input_mask=np.stack(rows["mask"]), segment_ids=np.stack(rows["seg"]),
        example_index=np.asarray(rows["example"], dtype=np.int64),
        doc_span_index=np.asarray(rows["span"], dtype=np.int64),
        token_start=np.stack(rows["start"]), token_end=np.stack(rows["end"]), max_context=np.stack(rows["maxc"]),
    )


def stack_samples(features: SquadFeatures) -> np.ndarray:
    """The staged query samples: int64 [F, 3, L] = input_ids, input_mask, segment_ids."""
    return np.ascontiguousarray(np.stack([features.input_ids, features.input_mask, features.segment_ids], axis=1))
