"""Task adapters: how a benchmark feeds its model and encodes LoadGen responses."""
from __future__ import annotations

from .classification import ImageClassification
from .question_answering import QuestionAnswering
from .text_generation import TextGeneration

TASKS = {
    "image-classification": ImageClassification,
    "question-answering": QuestionAnswering,
    "text-generation": TextGeneration,
}


def make_task(name: str, **options):
    try:
        cls = TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}") from None
    return cls(**options)


__all__ = ["TASKS", "ImageClassification", "QuestionAnswering", "TextGeneration", "make_task"]
