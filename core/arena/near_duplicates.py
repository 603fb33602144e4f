"""Finding a set of prompts inside a large body of text: exact copies and near-duplicates.

Both sides are normalised the same way first (NFKC, case folded, whitespace dropped: Chinese
puts no spaces between words, so a space is layout, not content), so a full-width comma,
an ideographic space or a trailing newline does not hide a copy. A near-duplicate is measured by character 5-grams, which suit Chinese (no word
boundaries to split on) as well as Latin text: the *containment* of a prompt in a text
is the share of the prompt's distinct 5-grams that the text also holds. Containment, not
Jaccard, because a prompt pasted into a longer training turn is still that prompt seen in
training, however long the turn around it; at 0.5 or more half of the prompt is there
word for word, which a rewording of a few characters keeps and an unrelated text on the
same topic does not reach. A prompt shorter than five characters is matched exactly only.

Comparing every text with every prompt would cost texts × prompts comparisons; instead
the prompts' n-grams form an inverted index (n-gram → prompts holding it, keyed by the
n-gram's hash), and a text costs a look-up of every fourth of its n-grams
(:data:`STRIDE`): most training turns share none and are done. A text that shares one
gets all its n-grams intersected with the index and counted per prompt, so the scores
are exact. The stride misses only a text whose pieces in common with every prompt are
all shorter than ``NGRAM + STRIDE - 1`` = 8 characters: a run of four shared n-grams
always holds a sampled one. A rewording that keeps half of a prompt's n-grams keeps
longer pieces than that (each changed character costs five n-grams), so only a prompt
deliberately cut into 7-character pieces would slip through.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

NGRAM = 5
"""Characters per n-gram."""
NEAR_THRESHOLD = 0.5
"""The least containment (share of a prompt's n-grams found in a text) that counts as a near-duplicate."""
STRIDE = 4
"""Every how many characters a text's n-grams are first looked up (see the module's note)."""

MatchKind = Literal["exact", "near"]


def normalise(text: str) -> str:
    """``text`` as compared: NFKC, case folded, without whitespace."""
    if not unicodedata.is_normalized("NFKC", text):  # the check is cheaper than normalising, and usually true
        text = unicodedata.normalize("NFKC", text)
    return "".join(text.casefold().split())


def char_ngrams(normalised: str, n: int = NGRAM, stride: int = 1) -> set[str]:
    """The distinct ``n``-character substrings of an already normalised text (none when it is shorter),
    those starting at every ``stride``-th character."""
    return {normalised[i : i + n] for i in range(0, len(normalised) - n + 1, stride)}


@dataclass(frozen=True)
class Hit:
    """One prompt found in one text: by its index in the indexed sequence."""

    prompt: int
    kind: MatchKind
    score: float
    """1.0 for an exact copy; the prompt's containment in the text for a near-duplicate."""


class PromptIndex:
    """The prompts' exact forms and n-grams, indexed for matching many texts against all of them at once."""

    def __init__(self, prompts: Sequence[str], *, n: int = NGRAM, threshold: float = NEAR_THRESHOLD) -> None:
        if n < 1 or not 0 < threshold <= 1:
            raise ValueError(f"n must be at least 1 and threshold in (0, 1], not n={n}, threshold={threshold}")
        self.n = n
        self.threshold = threshold
        self._exact: dict[str, list[int]] = {}
        postings: dict[str, list[int]] = {}
        self._sizes: list[int] = []
        for index, prompt in enumerate(prompts):
            normalised = normalise(prompt)
            self._exact.setdefault(normalised, []).append(index)
            grams = char_ngrams(normalised, n)
            self._sizes.append(len(grams))
            for gram in grams:
                postings.setdefault(gram, []).append(index)
        self._postings = postings
        self._keys = frozenset(postings)

    def __len__(self) -> int:
        return len(self._sizes)

    def matches(self, text: str) -> list[Hit]:
        """Every prompt that ``text`` copies exactly or contains at least ``threshold`` of."""
        normalised = normalise(text)
        exact = self._exact.get(normalised, [])
        hits = [Hit(index, "exact", 1.0) for index in exact]
        if self._keys.isdisjoint(char_ngrams(normalised, self.n, STRIDE)):
            return hits
        shared = char_ngrams(normalised, self.n) & self._keys
        counts: dict[int, int] = {}
        for gram in shared:
            for index in self._postings[gram]:
                counts[index] = counts.get(index, 0) + 1
        for index, count in counts.items():
            score = count / self._sizes[index]
            if score >= self.threshold and index not in exact:
                hits.append(Hit(index, "near", round(score, 3)))
        return hits
