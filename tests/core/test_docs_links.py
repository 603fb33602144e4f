"""The front door and the manual: every relative link between README.md and docs/ leads somewhere, and the README stays short."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_MAX_LINES = 210

# `[text](target)`; an image's `![alt](target)` matches too, and its file must exist as well.
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def _prose(text: str) -> str:
    """The text a reader sees as links: code blocks and code spans show brackets literally."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """The anchor a Markdown renderer (GitHub's rule) gives a heading."""
    heading = INLINE_CODE.sub(lambda code: code.group(0).strip("`"), heading).lower()
    kept = "".join(char for char in heading if char.isalnum() or char in " -_")
    return kept.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(heading) for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8")))}


def _relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(_prose(page.read_text(encoding="utf-8")))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


def test_every_relative_link_points_to_an_existing_file_and_heading() -> None:
    broken: list[str] = []
    checked = 0
    for page in _pages():
        for target in _relative_links(page):
            checked += 1
            path_part, _, anchor = target.partition("#")
            destination = (page.parent / path_part).resolve() if path_part else page
            where = f"{page.relative_to(ROOT)}: ({target})"
            if not destination.exists():
                broken.append(f"{where}: no file {destination.relative_to(ROOT) if destination.is_relative_to(ROOT) else destination}")
            elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
                broken.append(f"{where}: no heading with anchor #{anchor} in {destination.relative_to(ROOT)}")
    assert checked >= 20, f"only {checked} relative links found; the link pattern no longer matches the pages"
    assert not broken, "broken links (fix the path, or the heading it points to):\n" + "\n".join(broken)


def test_the_readme_links_every_docs_page_and_the_design_map_inside_the_repository() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in _relative_links(README)}
    unlinked = [page.relative_to(ROOT).as_posix() for page in sorted((ROOT / "docs").glob("*.md")) if page.resolve() not in linked]
    assert not unlinked, f"README.md does not link these pages of the manual: {unlinked}"
    assert (ROOT / "docs" / "design.md").resolve() in linked
    assert "shared/DESIGN.md" not in README.read_text(encoding="utf-8")


def test_the_readme_is_a_front_door_not_a_manual() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines, more than {README_MAX_LINES}: move the detail into a page of docs/ and link it")


def test_links_are_found_outside_code_only() -> None:
    text = "see [the map](docs/design.md) and `[not](a-link)`\n```\n[nor](this)\n```\n"
    assert LINK.findall(_prose(text)) == ["docs/design.md"]
    assert _slug("Arena (F5)") == "arena-f5"
    assert _slug("The `mhbench` CLI: shared rooms") == "the-mhbench-cli-shared-rooms"
