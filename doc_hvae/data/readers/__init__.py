"""Corpus readers: turn a corpus on disk (or on the Hub) into a stream of `Document`s.

Every reader is a function registered in `READERS` under a short name. Each one

- takes the corpus location (`path`, except `pydoc`), a keyword-only `report: SkipReport` and
  its own keyword-only options;
- checks its options when called and returns a lazy iterator, so bad options fail at once
  but a large corpus is never read into memory before the first document is needed;
- yields documents whose paragraphs and sentences are never empty, and counts in `report`
  every line, field, heading or file it skipped or changed, with a first example.

Use `read_corpus(name, path, report=..., **options)`: it also checks the reader name, the
path and the option names, and gives errors that say what was expected.

Readers and their corpora:

| reader     | corpus                                                       | document          |
| ---        | ---                                                          | ---               |
| `wikitext` | WikiText `wiki.*.tokens` / `wiki.*.raw`                       | an article        |
| `lines`    | one document per line (PTB, Yahoo Answers of Yang et al.)    | a line            |
| `text`     | a plain-text file or a folder of `.txt` files (Gutenberg)    | a file or chapter |
| `jsonl`    | JSON lines, optional split TSV (arXiv abstracts)             | a record          |
| `hf`       | any `datasets` dataset: Hub name, `save_to_disk` folder, data file | a row       |
| `pydoc`    | CPython's own documentation topics (`pydoc_data.topics`)     | a topic           |
"""

from . import hf, jsonl, lines, pydoc, text, wikitext  # noqa: F401  (each registers its reader)
from .common import document_from_text, paragraph_sentences, read_text_file
from .registry import READERS, normalise_split, read_corpus, reader_options, reader_splitter, register_reader

__all__ = [
    "READERS",
    "read_corpus",
    "reader_options",
    "reader_splitter",
    "register_reader",
    "normalise_split",
    "document_from_text",
    "paragraph_sentences",
    "read_text_file",
]
