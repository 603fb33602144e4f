"""The check of one file or of every dataset of a profile: what the launch and ``mhbench dataset`` run."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.base.errors import MhbenchError
from core.train.datasets.conversion import to_swift_messages, write_conversion
from core.train.datasets.layouts import LAYOUT_FIXES, SWIFT_EXTENSIONS, Progress
from core.train.datasets.lengths import LengthStats, token_lengths
from core.train.datasets.reading import DatasetIssue, scan_dataset

if TYPE_CHECKING:
    from core.profiles import Profile


@dataclass
class DatasetReport:
    """What the check found in one dataset file; the TUI lists it, the CLI prints ``summary()``."""

    path: Path
    format: str
    """``sharegpt``, ``messages``, ``alpaca``, ``dolly``, ``query_response`` or ``unknown``."""
    encoding: str
    """``utf-8`` or ``utf-8-sig``; ``unreadable`` when it could not be read or decoded; ``n/a`` when skipped."""
    samples: int
    """Records that swift will read correctly."""
    invalid: list[DatasetIssue] = field(default_factory=list)
    lengths: LengthStats | None = None
    converted_to: Path | None = None
    conversion_note: str | None = None
    notes: list[str] = field(default_factory=list)
    """Things worth knowing that are not errors: why lengths are missing, what swift will drop…"""
    error: MhbenchError | None = None
    """A file-level failure (missing, not UTF-8, no known layout); then nothing else is reliable."""
    skipped: str | None = None
    """Why this entry was not checked (a hub dataset id swift downloads itself)."""

    @property
    def ok(self) -> bool:
        """Nothing here blocks a launch: readable, at least one good sample, or not ours to check."""
        if self.skipped is not None:
            return True
        return self.error is None and self.encoding != "unreadable" and self.samples > 0

    @property
    def clean(self) -> bool:
        """Usable with no invalid line: what ``mhbench dataset`` exits 0 for without ``--allow-invalid``."""
        return self.ok and (self.skipped is not None or not self.invalid)

    @property
    def status(self) -> str:
        """``OK``, ``USABLE WITH n INVALID LINES`` (swift drops them) or ``NOT USABLE`` (no valid record)."""
        if not self.ok:
            return "NOT USABLE"
        if self.invalid and self.skipped is None:
            count = len(self.invalid)
            return f"USABLE WITH {count} INVALID LINE{'' if count == 1 else 'S'}"
        return "OK"

    def summary(self) -> str:
        if self.skipped is not None:
            return f"{self.path}: not checked: {self.skipped}"
        if self.error is not None:
            place = self.error.place() or str(self.path)
            fix = f" Fix: {self.error.fix}" if self.error.fix else ""
            lines = [f"{place}: {self.status}: {self.error.problem}{fix}"]
        else:
            lines = [
                f"{self.path}: {self.status}: {self.format} layout, {self.encoding}, "
                f"{self.samples} good sample(s), {len(self.invalid)} invalid"
            ]
        shown = [] if self.encoding == "unreadable" else self.invalid  # the error already names the bad byte
        for issue in shown[:5]:
            lines.append(f"  {issue}")
        if len(shown) > 5:
            lines.append(f"  … and {len(shown) - 5} more invalid line(s)")
        if self.lengths is not None:
            lines.append(f"  {self.lengths.line()}")
        if self.converted_to is not None:
            lines.append(f"  converted to {self.converted_to}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def _unreadable(path: Path, error: MhbenchError) -> DatasetReport:
    issue = DatasetIssue(path, error.line, error.problem, error.fix or "")
    return DatasetReport(path, "unknown", "unreadable", 0, [issue], error=error)


def check_dataset(
    path: Path,
    *,
    tokenizer_dir: Path | None = None,
    max_length: int = 2048,
    convert_dir: Path | None = None,
    progress: Progress | None = None,
) -> DatasetReport:
    """Check one file: encoding, layout, every record, token lengths; convert Dolly when asked.

    File-level failures (missing, not UTF-8, no known layout) do not raise: they
    come back as ``report.error`` so that a list of files can still be shown.
    """
    say = progress or (lambda message: None)
    path = Path(path)
    say(f"reading {path}")
    try:
        scan = scan_dataset(path)
    except MhbenchError as error:
        return _unreadable(path, error)
    report = DatasetReport(path, scan.format, scan.encoding, len(scan.good), list(scan.invalid))
    if path.suffix.lower() not in SWIFT_EXTENSIONS:
        report.notes.append(f"swift picks its loader from the extension; rename '{path.suffix or '(none)'}' to .jsonl.")
    if not scan.good and not scan.invalid:
        report.error = MhbenchError(
            "is empty: it holds no record.",
            path=path,
            fix='add one JSON object per line, e.g. {"messages": [{"role": "user", "content": "…"}, '
            '{"role": "assistant", "content": "…"}]}.',
        )
        return report
    if scan.format == "unknown":
        first = scan.invalid[0].line if scan.invalid else None
        report.error = MhbenchError(
            "has no record in a layout swift reads.", path=path, line=first, fix=LAYOUT_FIXES["unknown"]
        )
        report.samples = 0
        return report
    if scan.format == "dolly":
        if convert_dir is not None:
            say(f"converting {path.name} from Dolly to messages")
            report.converted_to, report.conversion_note = write_conversion(scan, convert_dir)
        else:
            report.notes.append(
                "Dolly layout: swift would train on instruction→response and silently drop 'context'; "
                f"convert it to messages first: mhbench dataset {shlex.quote(str(path))} --convert "
                f"(it writes data/{path.name.rsplit('.', 1)[0]}.swift-messages.jsonl in the workspace; train on that file)."
            )
    if report.samples and tokenizer_dir is None:
        report.notes.append(
            "token lengths not measured: the model is not a local folder (a hub id not downloaded yet)."
        )
    elif report.samples and tokenizer_dir is not None:
        say(f"counting tokens with the tokenizer in {tokenizer_dir}")
        try:
            report.lengths = token_lengths(
                (to_swift_messages(record, scan.format) for _, record in scan.good),
                tokenizer_dir,
                max_length,
                progress=progress,
            )
        except MhbenchError as error:
            report.notes.append(f"token lengths not measured: {error}")
        else:
            if report.lengths.over_max_length:
                report.notes.append(
                    f"{report.lengths.over_max_length} sample(s) exceed max_length {max_length}; swift deletes them by "
                    "default (truncation_strategy 'delete'). Raise max_length or shorten them."
                )
    return report


def local_dataset_file(entry: str, base_dir: Path) -> Path | None:
    """The local file a ``--dataset`` entry names (swift allows a ``#N`` sample count), or None for a hub id."""
    for candidate in (entry, entry.rsplit("#", 1)[0]):
        path = Path(candidate).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if path.exists():
            return path
    return None


def looks_like_dataset_path(entry: str) -> bool:
    """Whether a ``--dataset`` entry that names no existing file was meant as a path (a typo) rather than a hub id."""
    name = entry.rsplit("#", 1)[0]
    return name.startswith(("/", "./", "../", "~")) or Path(name).suffix.lower() in SWIFT_EXTENSIONS | {
        ".txt",
        ".parquet",
    }


def check_profile_datasets(
    profile: Profile,
    *,
    convert_dir: Path | None,
    base_dir: Path | None = None,
    progress: Progress | None = None,
    count_tokens: bool = True,
) -> list[DatasetReport]:
    """Check every dataset and validation file of a profile with its own tokenizer and max_length.

    Hub dataset ids come back as skipped reports: swift downloads and preprocesses
    them itself. A missing file that looks like a path is an error, not a hub id. Without
    ``count_tokens`` no tokenizer loads (seconds): what can refuse a launch is checked all the same.
    """
    base = base_dir or Path.cwd()
    model_dir = Path(profile.model.id).expanduser()
    local_model = count_tokens and profile.model.hub == "local" and model_dir.is_dir()
    tokenizer_dir = model_dir if local_model else None
    reports: list[DatasetReport] = []
    for entry in (*profile.train.dataset, *profile.train.val_dataset):
        path = local_dataset_file(entry, base)
        if path is None and not looks_like_dataset_path(entry):
            reports.append(
                DatasetReport(
                    Path(entry),
                    "unknown",
                    "n/a",
                    0,
                    skipped="a hub dataset id; swift downloads and reads it at launch.",
                )
            )
            continue
        reports.append(
            check_dataset(
                path or base / entry,
                tokenizer_dir=tokenizer_dir,
                max_length=profile.train.max_length,
                convert_dir=convert_dir,
                progress=progress,
            )
        )
    return reports
