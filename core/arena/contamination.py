"""The contamination check: is a fine-tuned model being rated on prompts it was trained on?

A model that has seen a prompt (or a light rewording of it) in training answers it from
memory, and a blind comparison then measures recall, not counselling. So for each model
of a session this module walks the catalog lineage (a GGUF → its merged model → its
adapter → the base) to every run that trained it, follows each run's resumes back to the
first, reads the ``--dataset`` and ``--val_dataset`` files its recorded ``swift sft``
command names (the way swift reads them: :mod:`core.train.datasets`), and looks for the
session's prompts in every user turn: exact copies and near-duplicates
(:mod:`core.arena.near_duplicates`). A turn item that a held-out split cut
(:mod:`core.train.datasets.holdout`) is also found by its whole conversation: a training record
of that same conversation (copies and re-spacings included) is an exact match, even where the
item's last client turn is too short to tell ("嗯，是的。"), and only such a record: its turns
are not compared one by one. A candidate trained on the split's train file holds none of them. The result is plain data, recorded per session and
model in ``contamination_checks``; checking again replaces the session's record.

A model with no run in its lineage (a base, an endpoint, a model fine-tuned elsewhere)
has nothing to check here, and says so. A dataset file that is gone or unreadable is
reported with its path and fix, never raised: the rest of the check still stands.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from core.arena.near_duplicates import NEAR_THRESHOLD, NGRAM, MatchKind, PromptIndex
from core.arena.prompts import Prompt, get_prompt_set
from core.arena.sessions import get_session
from core.base.db import registry, write_transaction
from core.base.errors import MhbenchError
from core.base.processes import utc_now
from core.base.text import strip_control
from core.base.workspace import Workspace
from core.models import ancestry
from core.train.datasets import to_swift_messages
from core.train.datasets.check import local_dataset_file, looks_like_dataset_path
from core.train.datasets.holdout import conversation_key, held_out_conversations
from core.train.datasets.reading import scan_dataset
from core.train.runs import RUN_FILE, RunRecord, lineage

DatasetRole = Literal["train", "val"]
NOT_FINE_TUNED = "not fine-tuned here: nothing to check."
GONE_FROM_CATALOG = "no longer in the catalog, so its runs are unknown: nothing checked."
SNIPPET_CHARS = 60
METHOD = (f"exact after NFKC, case folding and dropping whitespace; near: at least {NEAR_THRESHOLD:.0%} of the "
          f"prompt's character {NGRAM}-grams in one user turn")
_DATASET_FLAGS: Mapping[str, DatasetRole] = {"--dataset": "train", "--val_dataset": "val"}


@dataclass(frozen=True)
class PromptMatch:
    """A session prompt found in a training file: its best match there, and how many lines hold it."""

    prompt_id: str
    kind: MatchKind
    score: float
    """1.0 for an exact copy; the prompt's n-gram containment in the line for a near-duplicate."""
    line: int
    """The line (of the dataset file) of the best match: exact first, then the highest score, then the first."""
    snippet: str
    """The start of the matching user turn, control characters stripped, on one line."""
    lines: int = 1


@dataclass(frozen=True)
class DatasetCheck:
    """One dataset entry of a run's command, read and compared; or why it could not be."""

    entry: str
    """The entry as the command names it (a path, ``path#N``, or a hub id)."""
    role: DatasetRole
    path: str | None = None
    records: int = 0
    """Records swift would train on (lines it would drop are not compared)."""
    matches: tuple[PromptMatch, ...] = ()
    problem: str | None = None
    """A missing or unreadable file: the place, the problem and the fix."""
    skipped: str | None = None
    """Why the entry was not read although nothing is wrong (a hub dataset)."""


@dataclass(frozen=True)
class RunCheck:
    """One run's dataset entries, each read and compared."""

    run_id: str
    datasets: tuple[DatasetCheck, ...] = ()
    problem: str | None = None
    """The run is gone from this workspace, so its data is unknown."""


@dataclass(frozen=True)
class ModelCheck:
    """What one model's runs trained on, or why there is nothing to check."""

    model_id: str
    runs: tuple[RunCheck, ...] = ()
    """Every run in the model's lineage, oldest first, each after the runs it resumed."""
    note: str | None = None
    """Why nothing was checked (:data:`NOT_FINE_TUNED`, :data:`GONE_FROM_CATALOG`)."""

    @property
    def run_id(self) -> str | None:
        """The run that made the model itself (the newest in its lineage)."""
        return self.runs[-1].run_id if self.runs else None

    def matched(self, kind: MatchKind) -> list[str]:
        """Prompt ids seen in training as ``kind``; a prompt copied anywhere counts as exact only."""
        exact = {m.prompt_id for m in self._matches() if m.kind == "exact"}
        if kind == "exact":
            return sorted(exact)
        return sorted({m.prompt_id for m in self._matches()} - exact)

    @property
    def exact(self) -> int:
        return len(self.matched("exact"))

    @property
    def near(self) -> int:
        return len(self.matched("near"))

    @property
    def problems(self) -> list[str]:
        return [p for run in self.runs for p in (run.problem, *(d.problem for d in run.datasets)) if p]

    def _matches(self) -> Iterable[PromptMatch]:
        return (match for run in self.runs for dataset in run.datasets for match in dataset.matches)


@dataclass(frozen=True)
class ContaminationReport:
    """A prompt set compared with the training data of each model; recorded per model when of a session."""

    prompt_set_id: str
    prompts: int
    models: tuple[ModelCheck, ...]
    checked_at: str
    session_id: str | None = None
    ngram: int = NGRAM
    threshold: float = NEAR_THRESHOLD
    method: str = METHOD

    @property
    def contaminated(self) -> bool:
        return any(model.exact or model.near for model in self.models)


# --- reading a run's data -------------------------------------------------------------------------


def dataset_entries(argv: Sequence[str]) -> list[tuple[DatasetRole, str]]:
    """The ``--dataset`` and ``--val_dataset`` values of a ``swift sft`` command, in order."""
    entries: list[tuple[DatasetRole, str]] = []
    role: DatasetRole | None = None
    for word in argv:
        if word.startswith("--"):
            role = _DATASET_FLAGS.get(word)
        elif role is not None:
            entries.append((role, word))
    return entries


def _snippet(text: str) -> str:
    line = " ".join(strip_control(text).split())
    return line if len(line) <= SNIPPET_CHARS else line[: SNIPPET_CHARS - 1] + "…"


def find_prompts_in_file(path: Path, index: PromptIndex, prompt_ids: Sequence[str],
                         conversations: Mapping[str, Sequence[int]] | None = None) -> tuple[int, tuple[PromptMatch, ...]]:
    """Records read and the prompts found in the user turns of one dataset file; MhbenchError when unreadable.

    ``conversations``: conversation key → the prompts (indices) cut from it; a record of that
    conversation is an exact match of each, and only that: their client turns are not compared one by
    one, since short ones ("嗯，是的。") recur in other conversations and would flag a clean train file.
    """
    scan = scan_dataset(path)
    best: dict[int, PromptMatch] = {}
    by_conversation = {prompt for prompts in (conversations or {}).values() for prompt in prompts}
    for line, record in scan.good:
        messages = to_swift_messages(record, scan.format)["messages"]
        for prompt in (conversations or {}).get(conversation_key(messages), ()):
            opening = next((str(m["content"]) for m in messages if m.get("role") == "user"), "")
            found = best.get(prompt)
            best[prompt] = (PromptMatch(prompt_ids[prompt], "exact", 1.0, line, _snippet(opening)) if found is None
                            else PromptMatch(found.prompt_id, "exact", 1.0, found.line, found.snippet,
                                             found.lines + (line != found.line)))
        for message in messages:
            content = message.get("content")
            if message.get("role") != "user" or not isinstance(content, str):
                continue
            for hit in index.matches(content):
                if hit.prompt in by_conversation:
                    continue
                found = best.get(hit.prompt)
                if found is None:
                    best[hit.prompt] = PromptMatch(prompt_ids[hit.prompt], hit.kind, hit.score, line, _snippet(content))
                    continue
                better = (hit.kind == "exact") > (found.kind == "exact") or (
                    hit.kind == found.kind and hit.score > found.score
                )
                lines = found.lines + (line != found.line)
                if better:
                    best[hit.prompt] = PromptMatch(found.prompt_id, hit.kind, hit.score, line, _snippet(content), lines)
                else:
                    best[hit.prompt] = PromptMatch(found.prompt_id, found.kind, found.score, found.line, found.snippet,
                                                   lines)
    return len(scan.good), tuple(best[i] for i in sorted(best))


class _Checker:
    """One check's prompts, index and file cache: a file shared by several runs or models is read once."""

    def __init__(self, workspace: Workspace, prompts: Sequence[Prompt],
                 cut_from: Mapping[str, str] | None = None) -> None:
        """``cut_from``: prompt id → the key of the conversation a held-out split cut it from."""
        self.workspace = workspace
        self.prompt_ids = [prompt.id for prompt in prompts]
        self.index = PromptIndex([prompt.text for prompt in prompts])
        self.conversations: dict[str, list[int]] = {}
        for position, prompt in enumerate(prompts):
            if prompt.id in (cut_from or {}):
                self.conversations.setdefault((cut_from or {})[prompt.id], []).append(position)
        self._files: dict[Path, tuple[int, tuple[PromptMatch, ...]] | MhbenchError] = {}

    def dataset(self, role: DatasetRole, entry: str, base_dir: Path) -> DatasetCheck:
        path = local_dataset_file(entry, base_dir)
        if path is None and not looks_like_dataset_path(entry):
            return DatasetCheck(entry, role, skipped="a hub dataset id: swift downloads it, so it is not checked here.")
        if path is None:
            wanted = Path(entry.rsplit("#", 1)[0]).expanduser()
            wanted = wanted if wanted.is_absolute() else base_dir / wanted
            problem = MhbenchError("the run's dataset file is gone, so its prompts cannot be compared.", path=wanted,
                                   fix="put the file back where the run read it, or check its copy by hand.")
            return DatasetCheck(entry, role, str(wanted), problem=str(problem))
        path = path.resolve()
        if path not in self._files:
            try:
                self._files[path] = find_prompts_in_file(path, self.index, self.prompt_ids, self.conversations)
            except MhbenchError as error:
                self._files[path] = error
        found = self._files[path]
        if isinstance(found, MhbenchError):
            return DatasetCheck(entry, role, str(path), problem=str(found))
        records, matches = found
        return DatasetCheck(entry, role, str(path), records, matches)

    def run(self, run_id: str, argv: Sequence[str], run_dir: Path) -> RunCheck:
        # The supervisor starts swift in the run's folder: a relative dataset path is read from there.
        return RunCheck(run_id, tuple(self.dataset(role, entry, run_dir) for role, entry in dataset_entries(argv)))

    def model(self, model_id: str) -> ModelCheck:
        try:
            chain = ancestry(self.workspace, model_id)
        except MhbenchError:  # removed from the catalog since the session was made: its lineage went with it
            return ModelCheck(model_id, note=GONE_FROM_CATALOG)
        run_ids = list(dict.fromkeys(entry.run_id for entry in chain if entry.run_id))
        if not run_ids:
            return ModelCheck(model_id, note=NOT_FINE_TUNED)
        checks: dict[str, RunCheck] = {}
        for run_id in run_ids:
            for record in _run_lineage(self.workspace, run_id):
                if isinstance(record, RunCheck):
                    checks.setdefault(record.run_id, record)
                elif record.id not in checks:
                    checks[record.id] = self.run(record.id, record.argv, record.run_dir)
        return ModelCheck(model_id, tuple(checks.values()))


@dataclass(frozen=True)
class _RunData:
    """What the check needs of a run: its command and the folder swift ran in."""

    id: str
    argv: tuple[str, ...]
    run_dir: Path


def _run_lineage(workspace: Workspace, run_id: str) -> list[_RunData | RunCheck]:
    """The run and the runs it resumed, oldest first; from ``run.json`` when its row is gone; a RunCheck when both are."""
    with registry(workspace) as connection:
        row = connection.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is not None:
        return [_RunData(r.id, r.argv, r.run_dir) for r in lineage(workspace, RunRecord.from_row(row))]
    run_dir = workspace.runs_dir / run_id
    spec_file = run_dir / RUN_FILE
    try:
        spec = json.loads(spec_file.read_text(encoding="utf-8"))
        argv = tuple(str(word) for word in spec["argv"])
    except (OSError, ValueError, KeyError, TypeError):
        problem = MhbenchError(f"run {run_id} is not in this workspace, so its training data is unknown.",
                               path=spec_file, fix="restore the run's folder, or check its data by hand.")
        return [RunCheck(run_id, problem=str(problem))]
    return [_RunData(run_id, argv, run_dir)]


# --- checking ------------------------------------------------------------------------------------


def check_contamination(
    workspace: Workspace, prompt_set_id: str, model_ids: Sequence[str], *, session_id: str | None = None
) -> ContaminationReport:
    """Compare a prompt set with the training and validation data of each model's runs."""
    prompt_set = get_prompt_set(workspace, prompt_set_id)
    with registry(workspace) as connection:
        digest = connection.execute("SELECT sha256 FROM prompt_sets WHERE id = ?", (prompt_set.id,)).fetchone()[0]
    checker = _Checker(workspace, prompt_set.prompts, held_out_conversations(workspace, str(digest)))
    models = tuple(checker.model(model_id) for model_id in model_ids)
    return ContaminationReport(prompt_set.id, len(prompt_set.prompts), models, utc_now(), session_id)


def check_session(workspace: Workspace, session_ref: str) -> ContaminationReport:
    """The contamination check of a session's prompts against its models' training data (not recorded)."""
    session = get_session(workspace, session_ref)
    return check_contamination(workspace, session.prompt_set_id, session.models, session_id=session.id)


def record_session_check(workspace: Workspace, session_ref: str) -> ContaminationReport:
    """Check the session and record the result, replacing any earlier record of it."""
    report = check_session(workspace, session_ref)
    assert report.session_id is not None
    with write_transaction(workspace) as connection:
        connection.execute("DELETE FROM contamination_checks WHERE session_id = ?", (report.session_id,))
        connection.executemany(
            """INSERT INTO contamination_checks (session_id, model_id, run_id, checked_at, exact, near, details)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [(report.session_id, model.model_id, model.run_id, report.checked_at, model.exact, model.near,
              json.dumps(_details(report, model), ensure_ascii=False)) for model in report.models],
        )
    return report


def latest_session_check(workspace: Workspace, session_ref: str) -> ContaminationReport | None:
    """The recorded check of a session, its models in the session's order; ``None`` when never checked."""
    session = get_session(workspace, session_ref)
    with registry(workspace) as connection:
        rows = connection.execute("SELECT * FROM contamination_checks WHERE session_id = ?", (session.id,)).fetchall()
    if not rows:
        return None
    details = {row["model_id"]: json.loads(row["details"]) for row in rows}
    order = {model_id: position for position, model_id in enumerate(session.models)}
    first = next(iter(details.values()))
    models = tuple(_model_from(details[model_id]["model"]) for model_id in sorted(details,
                                                                                  key=lambda m: order.get(m, len(order))))
    return ContaminationReport(first["prompt_set_id"], first["prompts"], models, rows[0]["checked_at"], session.id,
                               first["ngram"], first["threshold"], first["method"])


def _details(report: ContaminationReport, model: ModelCheck) -> dict[str, Any]:
    return {"prompt_set_id": report.prompt_set_id, "prompts": report.prompts, "ngram": report.ngram,
            "threshold": report.threshold, "method": report.method, "model": asdict(model)}


def _model_from(data: Mapping[str, Any]) -> ModelCheck:
    runs = tuple(
        RunCheck(run["run_id"], tuple(
            DatasetCheck(**{**dataset, "matches": tuple(PromptMatch(**match) for match in dataset["matches"])})
            for dataset in run["datasets"]), run["problem"])
        for run in data["runs"]
    )
    return ModelCheck(data["model_id"], runs, data["note"])


def recorded_warnings(workspace: Workspace, session_ids: Iterable[str]) -> list[str]:
    """One line per model of these sessions whose recorded check found session prompts in its training data, and
    per session never checked; read from the records, nothing is checked again (cheap enough for every redraw)."""
    wanted = sorted(set(session_ids))
    if not wanted:
        return []
    marks = ",".join("?" * len(wanted))
    with registry(workspace) as connection:
        rows = connection.execute(
            f"SELECT session_id, model_id, exact, near FROM contamination_checks WHERE session_id IN ({marks}) "
            "ORDER BY session_id, model_id", wanted).fetchall()
    checked = {row["session_id"] for row in rows}
    lines = [f"session {row['session_id']}: {row['model_id']} was trained on {row['exact']} of its prompts exactly "
             f"and {row['near']} nearly (`mhbench session show {row['session_id']}` lists them)"
             for row in rows if row["exact"] or row["near"]]
    lines += [f"session {session_id}: not checked for contamination yet (`mhbench session show {session_id}` "
              "checks it)" for session_id in wanted if session_id not in checked]
    return lines


# --- plain text ------------------------------------------------------------------------------------


def contamination_lines(report: ContaminationReport) -> list[str]:
    """The check as lines of plain text: one per model, then each prompt seen and each file that was not read."""
    lines: list[str] = []
    for model in report.models:
        if model.note:
            lines.append(f"{model.model_id}: {model.note}")
            continue
        runs = ", ".join(run.run_id for run in model.runs)
        if model.exact or model.near:
            lines.append(f"{model.model_id} (run {runs}): {model.exact} prompt(s) copied exactly and {model.near} "
                         f"nearly in its training data")
        else:
            lines.append(f"{model.model_id} (run {runs}): none of the {report.prompts} prompts is in its training data")
        for run in model.runs:
            for dataset in run.datasets:
                for match in dataset.matches:
                    score = "" if match.kind == "exact" else f" {match.score:.2f}"
                    more = f" (+{match.lines - 1} more line(s))" if match.lines > 1 else ""
                    lines.append(f"  {match.prompt_id}: {match.kind}{score} at {dataset.path}:{match.line}{more}: "
                                 f"{match.snippet}")
                if dataset.skipped:
                    lines.append(f"  {dataset.entry}: {dataset.skipped}")
        lines += [f"  {problem}" for problem in model.problems]
    return lines
