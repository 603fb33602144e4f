"""Print (or with --write, put into docs/config.md) the table of every binding id, made from the code.

    .venv/bin/python scripts/keymap_table.py --write
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The markers kept their README names from when the table lived in the README.
from tui.shell.keymap import README_BEGIN as TABLE_BEGIN  # noqa: E402
from tui.shell.keymap import README_END as TABLE_END  # noqa: E402
from tui.shell.keymap import keymap_markdown  # noqa: E402

# The page of the manual that lists every binding id; tests/tui/test_keymap.py reads the same path.
KEYMAP_PAGE = ROOT / "docs" / "config.md"


def main(argv: list[str]) -> int:
    table = keymap_markdown()
    if "--write" not in argv:
        print(table)
        return 0
    text = KEYMAP_PAGE.read_text(encoding="utf-8")
    start, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if start < 0 or end < start:
        print(f"{KEYMAP_PAGE}: no '{TABLE_BEGIN}' … '{TABLE_END}' markers; paste the table by hand once.", file=sys.stderr)
        return 1
    KEYMAP_PAGE.write_text(text[:start] + table + text[end + len(TABLE_END):], encoding="utf-8")
    print(f"wrote the keymap table into {KEYMAP_PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
