"""The four shipped profiles by name, and the system prompt the Chinese Llama 3 profile sets."""

from __future__ import annotations

from core.profiles import Profile, find_profile, load_profiles

QWEN = "qwen2.5-7b-instruct"
LLAMA31 = "llama3.1-8b-instruct"
LLAMA3_CHINESE = "llama3-chinese-8b-instruct-v2"
LLAMA2_QLORA = "llama2-7b-dolly-qlora"
SHIPPED = (QWEN, LLAMA31, LLAMA3_CHINESE, LLAMA2_QLORA)
CHINESE_SYSTEM = "You are a helpful assistant. 你是一个乐于助人的助手。"


def shipped_profiles() -> dict[str, Profile]:
    """Each shipped profile, resolved (``extends`` applied), by name."""
    entries = load_profiles()
    return {name: find_profile(entries, name) for name in SHIPPED}
