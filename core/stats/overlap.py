"""Text overlap with a reference answer: sentence BLEU-4 and ROUGE-L F1 on jieba words.

jieba is imported only inside the metrics, so importing ``core`` never loads its dictionary.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence


def bleu4(candidate: str, reference: str) -> float:
    """Sentence-level BLEU-4 of ``candidate`` against one ``reference``, on jieba words.

    Geometric mean of the clipped 1- to 4-gram precisions times the brevity penalty.
    A precision with no match is smoothed to 0.1 / (candidate n-grams) (Chen & Cherry
    2014, method 1, as NLTK does), so a short, partly right answer does not score 0
    just for lacking a matching 4-gram; a candidate with no matching word at all, or
    an empty one, scores 0. An exact copy scores 1 when it has at least four words.
    """
    cand, ref = _words(candidate), _words(reference)
    if not cand or not ref:
        return 0.0
    log_sum = 0.0
    for order in range(1, 5):
        cand_grams = _ngrams(cand, order)
        ref_grams = _ngrams(ref, order)
        matches = sum(min(count, ref_grams[gram]) for gram, count in cand_grams.items())
        if order == 1 and matches == 0:
            return 0.0
        possible = max(1, len(cand) - order + 1)
        log_sum += math.log((matches if matches else 0.1) / possible)
    brevity = 1.0 if len(cand) > len(ref) else math.exp(1.0 - len(ref) / len(cand))
    return min(1.0, brevity * math.exp(log_sum / 4.0))


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 (β = 1) of ``candidate`` against ``reference``, on jieba words.

    F = 2 P R / (P + R) with P = LCS / |candidate| and R = LCS / |reference|, LCS being
    the longest common subsequence of words. Empty text on either side scores 0.
    """
    cand, ref = _words(candidate), _words(reference)
    if not cand or not ref:
        return 0.0
    common = _lcs_length(cand, ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(cand), common / len(ref)
    return 2.0 * precision * recall / (precision + recall)


def _words(text: str) -> list[str]:
    """jieba words of ``text``, whitespace-only tokens dropped. jieba's start-up chatter is silenced."""
    import jieba  # imported here so that importing core never loads jieba's dictionary

    jieba.setLogLevel(logging.WARNING)
    return [word for word in jieba.lcut(text) if word.strip()]


def _ngrams(words: list[str], order: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + order]) for i in range(len(words) - order + 1))


def _lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): O(|second| · |first| / 64).

    Bit i of ``row`` is 1 while position i of ``first`` is still free; each word of
    ``second`` clears at most one more bit per match chain, and the LCS is the number
    of cleared bits. Python's big integers carry the whole row in one value.
    """
    positions: dict[str, int] = {}
    for i, word in enumerate(first):
        positions[word] = positions.get(word, 0) | (1 << i)
    full = (1 << len(first)) - 1
    row = full
    for word in second:
        matches = row & positions.get(word, 0)
        row = ((row + matches) | (row - matches)) & full
    return len(first) - row.bit_count()
