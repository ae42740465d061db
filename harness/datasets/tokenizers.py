"""Loading a Hugging Face tokenizer folder and checking it fits the model.

The LLM benchmarks exchange token ids with LoadGen, and the accuracy scripts
turn them back into text. A tokenizer that does not belong to the model is a
silent failure: ids past the model's embedding index out of range (or, worse,
wrap around on some runtimes), and ids the tokenizer does not know are dropped
by ``decode`` without a word. So the tokenizer is loaded from a local folder
only (never the Hub) and its size is compared with the model's vocabulary.

``transformers`` is imported inside the functions: importing the harness must
stay cheap.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

# Any one of these makes a folder loadable by AutoTokenizer: the fast
# serialisation, the config that names a tokenizer class, or a slow tokenizer's
# vocabulary (GPT-2/GPT-J BPE, WordPiece, SentencePiece).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "vocab.txt",
    "tokenizer.model",
    "spiece.model",
)


class TokenizerError(ValueError):
    """A tokenizer folder cannot be loaded or does not match its model."""


def load_tokenizer(directory: str | Path) -> Any:
    """Load the tokenizer saved in ``directory`` (offline; never downloads)."""
    folder = Path(directory)
    if not folder.is_dir():
        raise TokenizerError(f"tokenizer folder {folder} does not exist")
    present = sorted(name for name in TOKENIZER_FILES if (folder / name).is_file())
    if not present:
        raise TokenizerError(
            f"{folder} holds no tokenizer files: expected at least one of "
            f"{', '.join(TOKENIZER_FILES)} (as written by save_pretrained)"
        )
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # transformers raises a mix of types for a broken folder; one error type
        # naming the folder is what callers (and the CLI's exit status 2) need.
        raise TokenizerError(
            f"cannot load the tokenizer in {folder} (files: {', '.join(present)}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc

