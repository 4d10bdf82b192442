"""A synthetic corpus in which the hierarchy must win: the mechanism check of the toolkit.

Every document has a hidden label, and every label its own vocabulary. A paragraph is one short
sentence of shared and label words, so a paragraph-context decoder that sees only its own
paragraph must guess the label afresh at every paragraph's first label word (log L nats lost each
time), while a model whose document latent holds the label pays about log L nats of KL once per
document and then predicts every paragraph's label words from the right vocabulary.

    label 3:  "ba tivo ruka ke ."  "ke nupa tivo ba ."  ...     (6 paragraphs)

Written as one `.txt` file per document, `<label>-<index>.txt`, blank lines between paragraphs: the
`text` reader with `label_from: filename_prefix` reads it, labels included.
"""

from __future__ import annotations

import random
from pathlib import Path

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def _pseudo_words(count: int, rng: random.Random, syllables: int, taken: set[str]) -> list[str]:
    words = []
    while len(words) < count:
        word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


def write_topic_corpus(
    folder: str | Path,
    num_documents: int = 400,
    num_labels: int = 8,
    words_per_label: int = 12,
    shared_words: int = 8,
    paragraphs: int = 6,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Write the corpus to `folder` (created); returns each label's vocabulary and the shared words.

    Sentence pattern: shared, label, label, shared, "." - so every paragraph's second token is the
    first that depends on the label.
    """
    rng = random.Random(seed)
    taken: set[str] = set()
    shared = _pseudo_words(shared_words, rng, 1, taken)
    vocabularies = {f"topic{label}": _pseudo_words(words_per_label, rng, 2, taken) for label in range(num_labels)}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    labels = list(vocabularies)
    for index in range(num_documents):
        label = labels[index % num_labels]
        words = vocabularies[label]
        text = "\n\n".join(
            f"{rng.choice(shared).capitalize()} {rng.choice(words)} {rng.choice(words)} {rng.choice(shared)}."
            for _ in range(paragraphs)
        )
        (folder / f"{label}-{index:05d}.txt").write_text(text + "\n")
    return {"shared": shared, **vocabularies}
