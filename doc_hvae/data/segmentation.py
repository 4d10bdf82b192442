"""Sentence splitting for the corpus readers.

One entry point, `split_sentences(text, splitter)`, over five strategies named in
`SPLITTERS`:

- "blingfire" (default): Bling Fire's rule-based sentence breaker
  (`blingfire.text_to_sentences`), compiled C++. It handles both ordinary prose and cased
  pre-tokenized text such as WikiText: a standalone ` . ` before a capital ends a sentence,
  while `3 @.@ 5` and `1 @,@ 000` do not (pysbd and sentencex both cut inside `@.@`). A few
  measured Bling Fire mistakes are repaired by rule (see `_repair_blingfire`): a sentence
  starting with an honorific ("... her friend. Mr. Weston was ..."), a closing quote token
  pushed into the next sentence, a cut after `@.@`. With the repairs it runs at about 9M
  characters/s, against pysbd's 0.25M, and gets every raw and pre-tokenized case of the
  gold set in `tests/segmentation_gold.py` right (`benchmarks/sentence_splitters.py`). Its
  weakness is lowercased text, where it misses most boundaries because it relies on the
  next word being capitalised; use "punctuation" there.
- "pysbd", "sentencex": the other maintained libraries, optional and imported lazily, kept
  for comparison.
- "punctuation": a token rule for lowercased pre-tokenized corpora (Yahoo Answers, PTB
  style); see `_punctuation_starts` for why a rule is right there.
- "none": the whole text is one sentence (PTB, where a line already is a sentence).

Whatever the splitter, the result obeys one contract that the tests check: the sentences
are consecutive, non-empty spans of the input with every whitespace run (line breaks
included) written as a single space, so `" ".join(sentences).split() == text.split()`:
nothing is lost, reordered or invented, and no whitespace-delimited token is cut in two (a
library boundary inside a token, such as pysbd's in a URL's "?", is dropped). Libraries that
rewrite characters on the way (Bling Fire turns NUL into a space, for instance) are only
used for *where* to cut; the text of each sentence is always cut from the input itself.

Line breaks are treated as ordinary spaces. Hard-wrapped prose (Gutenberg) therefore needs
no unwrapping before splitting, but a blank line is not a boundary either: readers split
paragraphs first and call `split_sentences` once per paragraph. (The libraries disagree
about newlines, pysbd ending a sentence at every one, so normalising them first is also what
makes the splitters comparable.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

import blingfire

SPLITTERS: tuple[str, ...] = ("blingfire", "pysbd", "sentencex", "punctuation", "none")

# Any whitespace, as str.split() understands it (Python's \s on str patterns is the same set).
_SPACES = re.compile(r"\s*")

# "punctuation" splitter. A terminal token is a whole whitespace-separated token made only of
# . ! ? ("." "?" "..." "!!" "?!"); a run of them ("... . ?", "? .", common in Yahoo Answers)
# is one terminator, so the boundary falls after the last. Each token is anchored on both
# sides (no \S before, none after), so "mr." "u.s." "3.50" "www.example.com" never match,
# and the per-token anchoring keeps matching linear even on long runs of dots.
_TERMINAL_RUN = re.compile(r"(?<!\S)[.!?]+(?!\S)(?:\s+[.!?]+(?!\S))*")
# The token right after a position (skipping whitespace), to look for closing quotes/brackets.
_NEXT_TOKEN = re.compile(r"\s+(\S+)")
# Tokens that can only close something, so they always stay with the sentence they end.
_ALWAYS_CLOSING = frozenset({"''", ")", "]", "}", "\u201d", "\u2019", "\u00bb"})
# Straight quotes open as well as close. One directly after a terminator closes a quotation
# only if the sentence so far has an odd number of them (an open quote); otherwise it opens
# the next sentence's quotation and must stay there: `he left . " i am going , " she said .`
_AMBIGUOUS_QUOTES = frozenset({'"', "'"})


def unwrap(text: str) -> str:
    """Join the hard-wrapped lines of one paragraph into one line.

    Every whitespace run (line breaks, tabs, the two spaces Gutenberg puts after a full
    stop) becomes one space, and the ends are stripped. Nothing else changes: a line that
    ends in a hyphen or dash ("cheerful--") is joined with a space like any other, because
    the file cannot tell a wrap inside "cheerful--Mr." from a spaced dash, and a stray space
    costs less than two words glued together.
    """
    return " ".join(text.split())


def split_sentences(text: str, splitter: str = "blingfire") -> list[str]:
    """Split `text` into sentences.

    Args:
        text: one paragraph (or one document line, for line-based corpora). Line breaks
            count as spaces; see the module docstring.
        splitter: one of `SPLITTERS`: "blingfire" for raw prose and cased pre-tokenized text
            (WikiText), "punctuation" for lowercased pre-tokenized text (Yahoo Answers),
            "none" when the text already is one sentence (PTB lines), "pysbd" or
            "sentencex" for comparison.

    Returns:
        The sentences in order, each non-empty and stripped, with internal whitespace runs
        written as one space. Joining them with spaces gives back the input's
        non-whitespace characters in order. Empty or all-whitespace input gives [].

    Raises:
        ValueError: `splitter` is not one of `SPLITTERS`.
        ImportError: "pysbd" or "sentencex" was asked for but is not installed.
    """
    # Check the name before anything else so that a typo in a config fails on the first
    # call, even when that call happens to get an empty paragraph.
    if splitter not in SPLITTERS:
        raise ValueError(f"unknown sentence splitter {splitter!r}; expected one of {', '.join(SPLITTERS)}")
    flat = unwrap(text)
    if not flat:
        return []
    if splitter == "none":
        return [flat]
    starts = _FIND_STARTS[splitter](flat)
    return _cut(flat, starts)


# ----------------------------------------------------------------------------- splitters
# Each takes whitespace-normalised, non-empty text and returns the start offsets of its
# sentences in that text (in any order, duplicates allowed; 0 is implied).


def _blingfire_starts(flat: str) -> list[int]:
    return _repair_blingfire(flat, _blingfire_raw_starts(flat))


def _blingfire_raw_starts(flat: str) -> list[int]:
    pieces = blingfire.text_to_sentences(flat).split("\n")
    starts = _align(flat, pieces)
    if starts is not None:
        return starts
    # Bling Fire changed a non-whitespace character (NUL, some control characters) or failed
    # (it returns "" on an internal error). Its offsets variant maps its cuts back onto the
    # input; it is several times slower (a Python loop over the UTF-8 bytes), hence only
    # the fallback.
    _, offsets = blingfire.text_to_sentences_and_offsets(flat)
    if offsets:
        return [begin for begin, _ in offsets]
    return _align_by_count(flat, pieces)


# Bling Fire repairs. Measured on austen-emma.txt (7,645 Bling Fire sentences), Bling Fire
# mishandles an honorific that opens a sentence, "...her friend.  Mr. Weston was...":
# 128 times it cuts after the honorific too, leaving "Mr." or "Mrs." as a sentence of its
# own, and 54 times it misses the boundary before it altogether. Both are fixed by rule, since
# an honorific is never a sentence by itself and never ends one. On WikiText-2 train (74,953
# Bling Fire sentences) it makes two more: 1,036 times a closing quote token is put at the
# start of the next sentence (`... won 't be safe . | " The junta ...`), and 52 times it cuts
# inside a number that ends a sentence (`an ERA of 1 @.@ | 62 .`); no boundary can follow
# WikiText's `@.@`, `@,@` or `@-@`, which join the two halves of one word or number.
_HONORIFICS = (
    "Mr",
    "Mrs",
    "Ms",
    "Mx",
    "Messrs",
    "Mme",
    "Mlle",
    "Dr",
    "Prof",
    "Rev",
    "St",
    "Sr",
    "Jr",
    "Capt",
    "Col",
    "Gen",
    "Lt",
    "Sgt",
    "Cpl",
    "Adm",
    "Gov",
    "Sen",
    "Rep",
    "Hon",
    "Pres",
)
_HONORIFIC = "(?:" + "|".join(_HONORIFICS) + r")\."
# A "sentence" that is only an honorific, perhaps after an opening quote or bracket token.
_HONORIFIC_ONLY = re.compile(r"(?:[\"'\u201c\u2018(\[]+ ?)?" + _HONORIFIC)
# A space followed by an honorific and a capitalised name (perhaps behind an opening quote):
# a candidate boundary, kept when the token before the space ends a sentence. Matching on
# the space first keeps the scan fast (about 0.05 s per 10 MB).
_SPACE_BEFORE_HONORIFIC = re.compile(r" (?=[\"'\u201c\u2018(\[]*" + _HONORIFIC + r" [A-Z])")
# A token that ends a sentence: a word (the part after any hyphen, dash or opening quote)
# ending in a lowercase letter or digit, then . ! or ?, then any closing quotes or brackets.
_SENTENCE_FINAL_TOKEN = re.compile(
    r"(?:.*[\"'\u201c\u2018(\[\-\u2014])?(?P<word>[A-Za-z0-9]*[a-z0-9])(?P<stop>[.!?])[\"'\u201d\u2019)\]]*"
)
# Words whose period is an abbreviation's, after which an honorific does not start a new
# sentence ("the Rev. Mr. Elton", "Acme Inc. Mr. Jones", "Smith et al. Dr. Lee showed").
# "No." and the like are left out: "He said no. Mr. Smith left." is the commoner reading.
_NOT_SENTENCE_FINAL = frozenset(
    word.lower()
    for word in (
        *_HONORIFICS,
        "Inc",
        "Co",
        "Corp",
        "Ltd",
        "Bros",
        "Esq",
        "vs",
        "etc",
        "cf",
        "viz",
        "al",
        "approx",
        "ca",
    )
)

# WikiText's joiner tokens; a boundary right after one would split a word or number.
_JOINERS = ("@.@ ", "@,@ ", "@-@ ")


def _after_joiner(flat: str, begin: int) -> bool:
    """Whether the sentence starting at `begin` would follow a standalone joiner token."""
    # Only the last few characters are looked at, so checking every boundary stays linear.
    return flat.endswith(_JOINERS, 0, begin) and (begin == 4 or flat[begin - 5 : begin - 4] == " ")


def _repair_blingfire(flat: str, starts: list[int]) -> list[int]:
    """Fix Bling Fire's known mistakes (see the comment above) on its sentence starts."""
    bounds = sorted({s for s in starts if 0 < s < len(flat)})
    # 1. "Mr." alone: merge it into the sentence after it, by dropping the boundary that ends it.
    ends_after_honorific = {
        end for begin, end in zip([0, *bounds], bounds) if _HONORIFIC_ONLY.fullmatch(flat, begin, end - 1)
    }
    kept = [b for b in bounds if b not in ends_after_honorific]
    # 2. A boundary before an honorific that follows a sentence-final word.
    for space in _SPACE_BEFORE_HONORIFIC.finditer(flat):
        previous_token = _SENTENCE_FINAL_TOKEN.fullmatch(flat, flat.rfind(" ", 0, space.start()) + 1, space.start())
        if previous_token is None:
            continue
        if previous_token.group("stop") != "." or previous_token.group("word").lower() not in _NOT_SENTENCE_FINAL:
            kept.append(space.end())
    # 3. Never right after a WikiText joiner token.
    kept = sorted({b for b in kept if not _after_joiner(flat, b)})
    # 4. A standalone '"' opening a sentence closes the previous one's open quotation.
    repaired: list[int] = []
    previous = 0
    for begin in kept:
        if flat.startswith('" ', begin) and _quote_is_open(flat[previous:begin].split(), '"'):
            begin += 2
        repaired.append(begin)
        previous = begin
    return repaired


@lru_cache(maxsize=1)
def _pysbd_segmenter():  # -> pysbd.Segmenter; untyped because pysbd is optional
    try:
        import pysbd
    except ImportError as error:
        raise ImportError(
            "the 'pysbd' sentence splitter needs the pysbd package: pip install pysbd (or use splitter='blingfire')"
        ) from error
    # clean=False: pysbd must not rewrite the text, so that its sentences align with ours.
    return pysbd.Segmenter(language="en", clean=False)


def _pysbd_starts(flat: str) -> list[int]:
    return _align_or_count(flat, _pysbd_segmenter().segment(flat))


def _sentencex_starts(flat: str) -> list[int]:
    try:
        import sentencex
    except ImportError as error:
        raise ImportError(
            "the 'sentencex' sentence splitter needs the sentencex package: pip install sentencex "
            "(or use splitter='blingfire')"
        ) from error
    return _align_or_count(flat, list(sentencex.segment("en", flat)))


def _punctuation_starts(flat: str) -> list[int]:
    """Sentence starts of lowercased, pre-tokenized text, by rule.

    A boundary follows every run of standalone terminal tokens (tokens made only of ".",
    "!", "?": ".", "?", "...", "!!"), after any closing quote or bracket tokens right
    behind it (`'' ) ] "`). "mr." or "u.s." (period attached to a word) is no boundary.

    Why a rule rather than a library here: in pre-tokenized corpora the tokenizer has
    already decided which periods end something and split them off as tokens, while
    abbreviation periods stay attached ("mr.", "u.s."). So the terminal token is explicit,
    and the remaining question that libraries answer, "is the next word capitalised?",
    has no signal left after lowercasing. The libraries lean on that capital and so miss
    boundaries such as "... long island . we have been ...": on the lowercased cases of the
    gold set, sentence F1 is 0.00 for Bling Fire, 0.37 for sentencex and 0.76 for pysbd,
    against 1.00 for this rule (`benchmarks/sentence_splitters.py`).

    Known limit: a quoted question followed by its speech tag,
    `" where are you ? " she asked .`, is cut after the closing quote, because nothing in
    lowercased text separates it from `" go away ! " i left .` (two sentences).
    """
    starts: list[int] = []
    for match in _TERMINAL_RUN.finditer(flat):
        end = match.end()
        sentence_start = starts[-1] if starts else 0
        # Keep closing tokens that directly follow the terminator with this sentence.
        while (token := _NEXT_TOKEN.match(flat, end)) is not None:
            value = token.group(1)
            if value in _ALWAYS_CLOSING:
                end = token.end()
            elif value in _AMBIGUOUS_QUOTES and _quote_is_open(flat[sentence_start:end].split(), value):
                end = token.end()
            else:
                break
        if end < len(flat):
            starts.append(end + 1)  # flat is single-spaced: the next sentence starts after one space
    return starts


def _quote_is_open(tokens: list[str], quote: str) -> bool:
    """Whether `tokens` (one sentence so far) leave a `quote` quotation open.

    Straight quotes pair up, so an odd count means one is open. For the single quote the
    PTB opener "`" counts too (`` ` yes . ' `` closes).
    """
    count = tokens.count(quote)
    if quote == "'":
        count += tokens.count("`")
    return count % 2 == 1


_FIND_STARTS: dict[str, Callable[[str], list[int]]] = {
    "blingfire": _blingfire_starts,
    "pysbd": _pysbd_starts,
    "sentencex": _sentencex_starts,
    "punctuation": _punctuation_starts,
}


# ----------------------------------------------------------------------------- alignment


def _cut(flat: str, starts: Iterable[int]) -> list[str]:
    """Cut `flat` at the given sentence starts; every character ends up in some sentence.

    A start inside a whitespace-delimited token is dropped: pysbd, for one, cuts
    "index.html?|page=2" in a URL, and a sentence boundary with no space at it is far more
    often such a mistake than real run-together text ("end.Next").
    """
    bounds = sorted({0, len(flat), *(s for s in starts if 0 < s < len(flat) and flat[s - 1] == " ")})
    sentences = (flat[begin:end].strip() for begin, end in zip(bounds, bounds[1:]))
    return [sentence for sentence in sentences if sentence]


def _align(flat: str, pieces: Iterable[str]) -> list[int] | None:
    """Start offsets in `flat` of library output `pieces`, or None if they are not its text.

    Libraries return sentence strings, not offsets, and may re-space them; this walks the
    input alongside, skipping whitespace on both sides. The fast path (`startswith`, in C)
    covers the usual case where a piece is a verbatim slice of the single-spaced input.
    """
    starts: list[int] = []
    pos = 0
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        pos = _SPACES.match(flat, pos).end()
        starts.append(pos)
        if flat.startswith(piece, pos):
            pos += len(piece)
            continue
        for char in piece:
            if char.isspace():
                continue
            pos = _SPACES.match(flat, pos).end()
            if pos >= len(flat) or flat[pos] != char:
                return None
            pos += 1
    if flat[pos:].strip():  # the library dropped text at the end
        return None
    return starts


def _align_by_count(flat: str, pieces: Iterable[str]) -> list[int]:
    """Cut points from the pieces' non-whitespace lengths, for output that does not match.

    Used only when a library rewrote characters; the cuts may then be off by the number of
    rewritten characters, but no text is lost, because `_cut` slices the input itself.
    """
    nonspace = [m.start() for m in re.finditer(r"\S", flat)]
    starts: list[int] = []
    seen = 0
    for piece in pieces:
        length = sum(not char.isspace() for char in piece)
        if length == 0:
            continue
        if seen >= len(nonspace):
            break
        starts.append(nonspace[seen])
        seen += length
    return starts


def _align_or_count(flat: str, pieces: list[str]) -> list[int]:
    starts = _align(flat, pieces)
    return starts if starts is not None else _align_by_count(flat, pieces)
