"""Untrusted text made safe and readable for a terminal: subprocess logs and model output.

A log or an answer may carry escape sequences that would drive the terminal (move the
cursor, retitle the window, switch character sets) or bidi overrides that make text
display as something it is not; tqdm redraws its bar with carriage returns. Every
stage shows such text (training logs, conversion jobs, servers, model answers), so the
stripping lives here, once. A chat template's special tokens (``<|im_end|>``,
``<|eot_id|>``) that a server let through are not part of an answer either: they are
taken out for display and export here too (:func:`strip_special_tokens`), while the
stored answer keeps what the model said and is flagged. Stdlib only.
"""

from __future__ import annotations

import re

__all__ = [
    "END_OF_TURN_TOKENS",
    "clean_answer",
    "special_tokens_in",
    "strip_control",
    "strip_special_tokens",
    "terminal_line",
    "terminal_lines",
]

_ESCAPES = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves (tqdm's \x1b[A)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    # OSC, DCS, SOS, PM, APC: a string up to BEL or ST. An unterminated one ends at the
    # newline so that one stray ESC ] cannot swallow the rest of a log or an answer.
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"  # every other ESC sequence (charset selection, keypad modes, RIS ...)
)
_BIDI = "\u202a-\u202e\u2066-\u2069"
_STRIP = re.compile(_ESCAPES + "|[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "]")
_STRIP_KEEP_CR = re.compile(_ESCAPES + "|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + _BIDI + "]")


def strip_control(text: str) -> str:
    """Remove what could drive a terminal rather than be read: ESC/CSI/OSC/DCS sequences,
    C0 controls except newline and tab, DEL, C1 controls and the bidi overrides
    (U+202A-U+202E, U+2066-U+2069) that can make text display as something it is not.

    Meant for anything untrusted that reaches the screen: subprocess logs and model output.
    """
    return _STRIP.sub("", text)


def _collapse(line: str) -> str:
    """What a terminal would show for one line: the last non-blank carriage-return segment (tqdm)."""
    if "\r" not in line:
        return line.rstrip()
    for segment in reversed(line.split("\r")):
        if segment.strip():
            return segment.rstrip()
    return ""


def terminal_line(line: str) -> str:
    """What a terminal would show for one line without its newline: controls stripped, tqdm redraws collapsed."""
    return _collapse(_STRIP_KEEP_CR.sub("", line))


def terminal_lines(text: str) -> list[str]:
    """:func:`terminal_line` of each newline-separated line of ``text`` (one pass of the stripper for all)."""
    return [_collapse(line) for line in _STRIP_KEEP_CR.sub("", text).split("\n")]


END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "<|eom_id|>", "</s>")
"""Tokens after which nothing is the answer: ChatML's (Qwen), Llama-3's, and SentencePiece's end of sequence."""
# Every ``<|name|>`` token of ChatML and Llama-3 (headers, reserved tokens, FIM markers), and SentencePiece's
# bare ``<s>``/``</s>``; counselling text has no reason to contain either form.
_SPECIAL = re.compile(r"<\|[A-Za-z0-9_.:-]{1,64}\|>|</?s>")
_END_OF_TURN = re.compile("|".join(re.escape(token) for token in END_OF_TURN_TOKENS))


def special_tokens_in(text: str) -> list[str]:
    """The chat-template special tokens ``text`` carries, each once, in order of appearance."""
    found: list[str] = []
    for match in _SPECIAL.finditer(text):
        if match.group(0) not in found:
            found.append(match.group(0))
    return found


def strip_special_tokens(text: str) -> str:
    """``text`` without chat-template special tokens; what follows an end-of-turn token is dropped.

    A server that did not stop at the end of the turn may go on with a made-up next turn
    (``<|im_end|>\n<|im_start|>user …``): that is not the answer. Only when nothing but
    whitespace comes before the first end-of-turn token are the tokens merely removed, so an
    answer is never emptied by a stray token at its start.
    """
    if "<" not in text:
        return text
    end = _END_OF_TURN.search(text)
    if end is not None and text[: end.start()].strip():
        text = text[: end.start()]
    return _SPECIAL.sub("", text)


def clean_answer(text: str) -> str:
    """A model's answer as a rater or an export sees it: no special tokens, no terminal controls."""
    return strip_control(strip_special_tokens(text))
