"""CLIP's BPE tokenizers: SDXL's two (the pipeline's) and the CLIP score's.

SDXL tokenizes every caption twice (``coco.py``: ``pipe.tokenizer`` and
``pipe.tokenizer_2``, padded to ``model_max_length`` 77, truncated); both are
OpenAI's CLIP BPE vocabulary, the second padding with ``!`` where the first
pads with ``<|endoftext|>``. The CLIP score's ``open_clip.tokenize`` is the
same vocabulary again, padded with id 0 (``!``). A model folder laid out as
a diffusers pipeline (``tokenizer/`` and ``tokenizer_2/``, as MLPerf's
``checkpoint_pipe``) is read as it is.

The proxy has one small vocabulary of the same kind (``proxy/vocab.json``,
``proxy/merges.txt``, built here from the proxy's words): OpenAI's byte
alphabet in OpenAI's order (so ``!`` is id 0 as there), each byte again with
the end-of-word mark ``</w>``, the merges that make each word one token, and
the two special tokens last (the end-of-text token the highest id, as
open_clip's pooling at ``argmax`` expects).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.datasets.base import DatasetFormatError

CONTEXT_LENGTH = 77  # CLIP's model_max_length
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
PAD_2 = "!"  # tokenizer_2 of stable-diffusion-xl-base-1.0 pads with "!"
END_OF_WORD = "</w>"
VOCAB_FILE, MERGES_FILE = "vocab.json", "merges.txt"
PIPELINE_FOLDERS = ("tokenizer", "tokenizer_2")


def byte_alphabet() -> list[str]:
    """The 256 characters byte-level BPE writes bytes as, in OpenAI's vocabulary order.

    Printable Latin-1 bytes stand for themselves and come first; the others
    are shifted past 255, in byte order.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\xa1"), ord("\xac") + 1),
                 *range(ord("\xae"), ord("\xff") + 1)]
    chars = [chr(b) for b in printable]
    shifted = 0
    for b in range(256):
        if b not in printable:
            chars.append(chr(256 + shifted))
            shifted += 1
    return chars


def _apply_merges(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """BPE: merge the lowest-ranked adjacent pair until none is left."""
    while len(symbols) > 1:
        pairs = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:]))]
        rank, i = min(pairs)
        if rank == 1 << 30:
            break
        symbols = symbols[:i] + [symbols[i] + symbols[i + 1]] + symbols[i + 2:]
    return symbols


def build_vocabulary(words) -> tuple[dict[str, int], list[str]]:
    """(token -> id, merges) that make each of ``words`` (lower-case letters) a single token."""
    alphabet = byte_alphabet()
    tokens = alphabet + [c + END_OF_WORD for c in alphabet]
    known = set(tokens)
    merges: list[str] = []
    ranks: dict[tuple[str, str], int] = {}
    for word in sorted(set(words), key=lambda w: (len(w), w)):
        if not word.isascii() or not word.isalpha():
            raise ValueError(f"vocabulary word {word!r}: expected lower-case ASCII letters")
        symbols = list(word[:-1]) + [word[-1] + END_OF_WORD]
        # Earlier merges may already join parts of this word in another way;
        # merging what BPE leaves, left to right, always ends in one token.
        symbols = _apply_merges(symbols, ranks)
        while len(symbols) > 1:
            pair = (symbols[0], symbols[1])
            merged = pair[0] + pair[1]
            if pair not in ranks:
                ranks[pair] = len(merges)
                merges.append(f"{pair[0]} {pair[1]}")
            if merged not in known:
                known.add(merged)
                tokens.append(merged)
            symbols = [merged] + symbols[2:]
    tokens += [BOS, EOS]
    return {token: i for i, token in enumerate(tokens)}, merges


def proxy_vocabulary() -> tuple[dict[str, int], list[str]]:
    from .scene import vocabulary_words

    return build_vocabulary(vocabulary_words())


def write_vocabulary(folder: Path, vocab: dict[str, int], merges: list[str]) -> None:
    """``vocab.json`` and ``merges.txt`` as CLIP's tokenizer folders hold them."""
    folder = Path(folder)
    (folder / VOCAB_FILE).write_text(json.dumps(vocab, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    (folder / MERGES_FILE).write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


def read_vocabulary(folder: Path) -> tuple[dict[str, int], list[str]]:
    folder = Path(folder)
    vocab_path, merges_path = folder / VOCAB_FILE, folder / MERGES_FILE
    for path in (vocab_path, merges_path):
        if not path.is_file():
            raise DatasetFormatError(f"{folder}: no {path.name} (a CLIP tokenizer folder holds {VOCAB_FILE} and "
                                     f"{MERGES_FILE}, or the pipeline's {' and '.join(PIPELINE_FOLDERS)} folders)")
    try:
        vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetFormatError(f"{vocab_path}: not a JSON vocabulary ({exc})") from None
    if not isinstance(vocab, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in vocab.items()):
        raise DatasetFormatError(f"{vocab_path}: expected an object of token -> id")
    for token in (BOS, EOS, PAD_2):
        if token not in vocab:
            raise DatasetFormatError(f"{vocab_path}: lacks the token {token!r} every CLIP vocabulary has")
    lines = merges_path.read_text(encoding="utf-8").splitlines()
    merges = [line for line in lines if line and not line.startswith("#version")]
    return vocab, merges


def _from_vocabulary(vocab: dict[str, int], merges: list[str], pad_token: str):
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=dict(vocab), merges=[tuple(m.split(" ")) for m in merges], pad_token=pad_token,
                         model_max_length=CONTEXT_LENGTH)


def pipeline_tokenizers(folder: Path):
    """SDXL's ``(tokenizer, tokenizer_2)`` from a pipeline folder or a CLIP vocabulary folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFormatError(f"{folder}: no such tokenizer folder")
    if all((folder / name).is_dir() for name in PIPELINE_FOLDERS):
        from transformers import CLIPTokenizer

        try:
            return tuple(CLIPTokenizer.from_pretrained(str(folder / name)) for name in PIPELINE_FOLDERS)
        except (OSError, ValueError) as exc:
            raise DatasetFormatError(f"{folder}: cannot read the pipeline's tokenizers ({exc})") from None
    vocab, merges = read_vocabulary(folder)
    return _from_vocabulary(vocab, merges, EOS), _from_vocabulary(vocab, merges, PAD_2)


def score_tokenizer(folder: Path):
    """The CLIP score's tokenizer (open_clip.tokenize's): padded with id 0, ``!``."""
    vocab, merges = read_vocabulary(folder)
    return _from_vocabulary(vocab, merges, PAD_2)


def token_ids(tokenizer, texts: list[str]) -> np.ndarray:
    """int64 [N, 77]: padded to the context length and truncated, as coco.py's ``preprocess`` asks."""
    encoded = tokenizer(list(texts), padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="np")
    ids = np.asarray(encoded["input_ids"], dtype=np.int64)
    if ids.ndim != 2 or ids.shape[1] != CONTEXT_LENGTH:
        raise ValueError(f"the tokenizer gave ids of shape {ids.shape}; expected [N, {CONTEXT_LENGTH}]")
    return ids
