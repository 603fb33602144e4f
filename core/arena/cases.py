"""Case sets: simulated clients for dialogue sessions, read from JSONL and validated line by line.

A case is what a client model plays: ``id``, ``title``, ``background`` (who the client is),
``problem`` (what brings them), ``manner`` (how they talk), ``opening`` (their first line), and
optionally ``tags`` and a risk that surfaces late: ``risk`` (what the client reveals, in the
case author's words) with ``risk_after_turn`` (the first client turn at which the client may let
it show, 2 or later; the opening is turn 1). A case set is registered as a prompt set whose rows
have kind ``dialogue`` (id = case id, text = the opening line, case = the whole case), so sessions,
items, ratings and exports reuse the prompt-set machinery. Every bad line is an error naming the
file, the line and the fix, and nothing is registered until the whole file is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.arena.crisis import shows_crisis
from core.arena.prompts import MAX_PROMPT_CHARS, Prompt, PromptSet, json_object_lines, read_utf8, register_rows
from core.base.errors import MhbenchError, did_you_mean
from core.base.workspace import Workspace

DEMO_CASES = "demo"
CASE_TEXT_FIELDS = ("title", "background", "problem", "manner", "opening")
"""The text every case must give (besides its ``id``)."""
CASE_FIELDS = ("id", *CASE_TEXT_FIELDS, "tags", "risk", "risk_after_turn")


@dataclass(frozen=True)
class Case:
    """One simulated client, as the client prompt states it."""

    id: str
    title: str
    background: str
    problem: str
    manner: str
    opening: str
    tags: tuple[str, ...] = ()
    risk: str | None = None
    """What the client lets show only later (a crisis that surfaces late), never in the opening."""
    risk_after_turn: int | None = None
    """The first client turn (the opening is 1) at which :attr:`risk` may show."""

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {key: getattr(self, key) for key in ("id", *CASE_TEXT_FIELDS)}
        data["tags"] = list(self.tags)
        if self.risk is not None:
            data["risk"], data["risk_after_turn"] = self.risk, self.risk_after_turn
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Case:
        """A case as stored in a prompt row's ``case`` (written by :meth:`as_dict`)."""
        tags = data.get("tags") or []
        after = data.get("risk_after_turn")
        risk = data.get("risk")
        return cls(str(data["id"]), str(data["title"]), str(data["background"]), str(data["problem"]),
                   str(data["manner"]), str(data["opening"]),
                   tags=tuple(str(tag) for tag in tags) if isinstance(tags, list) else (),
                   risk=str(risk) if risk is not None else None, risk_after_turn=int(str(after)) if after else None)


def demo_case_file() -> Path:
    return Path(__file__).resolve().parents[1] / "demo" / "data" / "cases.jsonl"


def _text(row: dict[str, object], key: str, path: Path, line: int) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise MhbenchError(f"the case has no '{key}' text.", path=path, line=line,
                           fix=f'add "{key}": "…" (every case gives id, {", ".join(CASE_TEXT_FIELDS)}).')
    if len(value) > MAX_PROMPT_CHARS:
        raise MhbenchError(f"'{key}' is {len(value)} characters long.", path=path, line=line,
                           fix=f"keep each field under {MAX_PROMPT_CHARS} characters.")
    return value.strip()


def _case(row: dict[str, object], path: Path, line: int) -> Case:
    for key in row:
        if key not in CASE_FIELDS:
            raise MhbenchError(f"unknown field '{key}'.{did_you_mean(key, CASE_FIELDS)}", path=path, line=line,
                               fix="a case has " + ", ".join(CASE_FIELDS) + ".")
    case_id = row.get("id")
    if not isinstance(case_id, str | int) or not str(case_id).strip():
        raise MhbenchError("the case has no 'id'.", path=path, line=line, fix='add "id": "c01".')
    title, background, problem, manner, opening = (_text(row, key, path, line) for key in CASE_TEXT_FIELDS)
    tags = row.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise MhbenchError("'tags' must be a list of strings.", path=path, line=line,
                           fix='write "tags": ["丧亲", "危机"].')
    risk, after = row.get("risk"), row.get("risk_after_turn")
    if (risk is None) != (after is None):
        raise MhbenchError("'risk' and 'risk_after_turn' go together.", path=path, line=line,
                           fix='give both: "risk": "what the client lets show later", "risk_after_turn": 3.')
    if risk is not None:
        risk = _text(row, "risk", path, line)
        if isinstance(after, bool) or not isinstance(after, int) or after < 2:
            raise MhbenchError(f"'risk_after_turn' is {after!r}.", path=path, line=line,
                               fix="give the client turn (2 or later; the opening is turn 1) from which the risk "
                                   "may show.")
    return Case(str(case_id).strip(), title, background, problem, manner, opening,
                tags=tuple(t.strip() for t in tags if t.strip()), risk=risk,
                risk_after_turn=after if isinstance(after, int) and risk is not None else None)


def read_case_file(path: Path) -> list[Case]:
    """Every case of a JSONL file; the first bad line is an error naming it and its fix."""
    cases: list[Case] = []
    seen: dict[str, int] = {}
    example = ('{"id": "c01", "title": "…", "background": "…", "problem": "…", "manner": "…", '
               '"opening": "…"}')
    for number, row in json_object_lines(path, read_utf8(path, "case file"), example):
        case = _case(row, path, number)
        if case.id in seen:
            raise MhbenchError(f"id '{case.id}' was already used on line {seen[case.id]}.", path=path, line=number,
                               fix="give every case its own id.")
        seen[case.id] = number
        cases.append(case)
    if not cases:
        raise MhbenchError("the case file has no cases.", path=path, fix="add at least one case, one JSON per line.")
    return cases


def case_prompt(case: Case, position: int) -> Prompt:
    """A case as a prompt-set row of kind ``dialogue``; a crisis tag marks it from the start."""
    return Prompt(case.id, case.opening, None, case.tags, shows_crisis(case.opening, case.tags), position,
                  "dialogue", (), case.as_dict())


def register_case_set(workspace: Workspace, source: str | Path = DEMO_CASES) -> PromptSet:
    """Validate and store a case file (or the demo cases) as a prompt set of dialogue rows."""
    path = demo_case_file() if str(source) == DEMO_CASES else Path(source).expanduser().resolve()
    name = "demo-cases" if str(source) == DEMO_CASES else path.stem
    cases = read_case_file(path)
    return register_rows(workspace, path, name, [case_prompt(case, position) for position, case in enumerate(cases)])
