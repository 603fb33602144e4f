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


def test_special_tokens_are_taken_out_of_an_answer_and_what_follows_an_end_of_turn_dropped() -> None:
    from core.base.text import clean_answer, special_tokens_in, strip_special_tokens

    assert strip_special_tokens("我听到了你的难过。<|endoftext|>") == "我听到了你的难过。"
    assert strip_special_tokens("先深呼吸。<|im_end|>\n<|im_start|>user\n谢谢") == "先深呼吸。"
    assert strip_special_tokens("慢慢来。<|eot_id|><|start_header_id|>user<|end_header_id|>好") == "慢慢来。"
    assert strip_special_tokens("<|im_start|>assistant\n你好") == "assistant\n你好"  # no end: tokens only
    assert strip_special_tokens("<|endoftext|>你好") == "你好"  # a stray token first never empties the answer
    assert strip_special_tokens("a < b and c|>d") == "a < b and c|>d"  # not tokens: untouched
    assert special_tokens_in("x<|im_end|>y<|im_start|><|im_end|>") == ["<|im_end|>", "<|im_start|>"]
    assert special_tokens_in("普通的回答") == []
    assert clean_answer("\x1b[31m好\x1b[0m<|eot_id|>") == "好"
