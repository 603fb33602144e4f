"""core.base.text: untrusted text stripped of what could drive a terminal."""

from __future__ import annotations

from core.base.text import strip_control


def test_strip_control() -> None:
    assert strip_control("\x1b[31mred\x1b[0m") == "red"
    assert strip_control("\x1b]0;title\x07after") == "after"
    assert strip_control("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\") == "link"
    assert strip_control("a\tb\nc") == "a\tb\nc"
    assert strip_control("bell\x07 back\x08 cr\r nul\x00 del\x7f") == "bell back cr nul del"
    assert strip_control("c1\x9b31m \x85next") == "c1 next"
    assert strip_control("safe\u202etxt.exe\u2066x\u2069") == "safetxt.exex"
    assert strip_control("\x1b]unterminated\nnext line") == "\nnext line"  # an open OSC ends at the newline
    assert strip_control("\x1b(B\x1bc\x1b=plain") == "plain"
    assert strip_control("心理咨询 ok") == "心理咨询 ok"
