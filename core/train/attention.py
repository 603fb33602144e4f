"""Flash attention before launch: used where it imports, else sdpa with packing off, said aloud.

swift refuses ``--packing`` without a flash attention implementation
(``SftArguments._check_padding_free``), and a flash-attn wheel that does not import (absent,
or built against another torch) fails only at model load. So the switch is decided here, before
anything starts, and both settings change together; the note says so in the dry run and in the
confirm step, which show the same plan.
"""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys

from core.profiles import Profile, apply_overrides

FLASH_IMPLS = ("flash_attn", "flash_attention_2", "flash_attention_3", "flash_attention_4")
"""The implementations swift accepts for packing and padding-free."""

FLASH_INSTALL = "install flash-attn on the GPU box (`bash scripts/setup.sh` does, where nvcc or a matching wheel is there)"
FLASH_FIX = f'{FLASH_INSTALL}, or set both [train] attn_impl = "sdpa" and [train] packing = false'
"""The fix wherever flash attention is missing: either way, both settings are named."""


@functools.cache
def flash_attn_importable() -> bool:
    """Whether ``import flash_attn`` works here: looked up first (instant), then imported in a child.

    A child, because a wheel built against another torch fails with an undefined symbol, and that
    must not take the caller down; cached, because the answer holds for the process's life.
    """
    if importlib.util.find_spec("flash_attn") is None:
        return False
    try:
        return subprocess.run([sys.executable, "-c", "import flash_attn"], capture_output=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def attention_fallback(profile: Profile, flash_available: bool) -> tuple[Profile, str | None]:
    """The profile this machine can train, and the note that says what changed (``None``: nothing)."""
    if flash_available or profile.train.attn_impl not in FLASH_IMPLS:
        return profile, None
    changes = ['train.attn_impl="sdpa"']
    if profile.train.packing:
        changes.append("train.packing=false")
    changed = apply_overrides(profile, changes, source="flash-attn check")
    packing = " and packing off (swift packs only with flash attention)" if profile.train.packing else ""
    return changed, (
        f"flash-attn does not import here: attn_impl {profile.train.attn_impl} → sdpa{packing}. "
        f"To keep flash attention and packing, {FLASH_INSTALL}."
    )
