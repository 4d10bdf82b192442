"""The unit every reader yields: a document as paragraphs of sentences, plus what was skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Document:
    """One source document, segmented but not yet tokenized.

    Attributes:
        id: identifier, unique within its corpus (an article title, a file name, a line number).
        paragraphs: the document's paragraphs, each a list of sentence strings. Readers never
            yield an empty paragraph or an empty sentence.
        label: optional class (author, category, topic) used by style metrics.
        title: optional human-readable title.
        split: the split the source assigns to this document ("train", "validation", "test"),
            or None when the corpus has no split of its own.
    """

    id: str
    paragraphs: list[list[str]]
    label: str | None = None
    title: str | None = None
    split: str | None = None

    @property
    def num_sentences(self) -> int:
        return sum(len(paragraph) for paragraph in self.paragraphs)

    @property
    def num_words(self) -> int:
        """Whitespace words of the source text: the unit of word-level perplexity."""
        return sum(len(sentence.split()) for paragraph in self.paragraphs for sentence in paragraph)


@dataclass
class SkipReport:
    """Counts of what a pipeline stage read, changed or skipped, and why.

    Nothing is dropped silently: every stage that skips or alters input increments a named
    counter here, and the counters are printed and saved with the corpus statistics.
    """

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, n: int = 1, example: str | None = None) -> None:
        """Count `n` items under `reason`; keep the first example seen for the report."""
        self.counts[reason] += n
        if example is not None and reason not in self.examples:
            self.examples[reason] = example[:200]

    def merge(self, other: SkipReport) -> None:
        self.counts.update(other.counts)
        for reason, example in other.examples.items():
            self.examples.setdefault(reason, example)

    def as_dict(self) -> dict:
        return {"counts": dict(sorted(self.counts.items())), "examples": dict(sorted(self.examples.items()))}

    def format(self) -> str:
        if not self.counts:
            return "nothing skipped or changed"
        lines = []
        for reason, n in sorted(self.counts.items()):
            example = self.examples.get(reason)
            lines.append(f"{reason}: {n}" + (f"  (e.g. {example!r})" if example else ""))
        return "\n".join(lines)
