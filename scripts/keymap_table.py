"""Print (or with --write, put into README.md) the table of every binding id, made from the code.

    .venv/bin/python scripts/keymap_table.py --write
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui.shell.keymap import README_BEGIN, README_END, keymap_markdown  # noqa: E402


def main(argv: list[str]) -> int:
    table = keymap_markdown()
    if "--write" not in argv:
        print(table)
        return 0
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        print(f"{readme}: no '{README_BEGIN}' … '{README_END}' markers; paste the table by hand once.", file=sys.stderr)
        return 1
    readme.write_text(text[:start] + table + text[end + len(README_END):], encoding="utf-8")
    print(f"wrote the keymap table into {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
