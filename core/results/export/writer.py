"""Writing an export: where it goes, CSV and JSONL files, each replaced atomically.

See :mod:`core.results.export` for the file formats.
"""

from __future__ import annotations

import os
import re
import shlex
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from core.base.db import connect
from core.base.errors import MhbenchError, did_you_mean
from core.base.workspace import Workspace
from core.results.export.cells import CellRun, Cells, Row, csv_field, json_members, json_value
from core.results.export.columns import COLUMNS, EXPORT_FORMATS, EXPORT_KINDS, ExportFormat, ExportKind
from core.results.export.rows import ROW_READERS, resolve_filters

EVERY_KIND: tuple[tuple[ExportKind, ExportFormat], ...] = (("ratings", "csv"), ("comparisons", "csv"),
                                                            ("battles", "jsonl"))
"""What :func:`export_all` writes: each kind in the format its readers expect."""
_UNSAFE_IN_NAME = re.compile(r"[^\w.-]+")


def default_export_path(workspace: Workspace, what: ExportKind, format: ExportFormat) -> Path:
    """``<workspace>/exports/<what>-<UTC stamp>.<csv|jsonl>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return workspace.exports_dir / f"{what}-{stamp}.{format}"


def export_path(workspace: Workspace, what: ExportKind, format: ExportFormat, out: Path | None = None) -> Path:
    """Where :func:`export` writes: ``out``; a dated file inside it when it is a folder; else the default."""
    if out is None:
        return default_export_path(workspace, what, format)
    out = Path(out).expanduser()
    return out / default_export_path(workspace, what, format).name if out.is_dir() else out


def filtered_export_path(workspace: Workspace, what: ExportKind, format: ExportFormat, *,
                         rater: str | None = None, session: str | None = None) -> Path:
    """``<workspace>/exports/<what>[-rater_<r>][-session_<s>].<format>``: one file per filter set, each
    new export of the same filters replacing the last. Filter text is user text: anything but word
    characters, dots and dashes becomes ``_``, so a name never leaves the folder."""
    suffix = "".join(f"-{key}_{_UNSAFE_IN_NAME.sub('_', value)}"
                     for key, value in (("rater", rater), ("session", session)) if value)
    return workspace.exports_dir / f"{what}{suffix}.{format}"


def export_all(workspace: Workspace, *, rater: str | None = None,
               session: str | None = None, include_judges: bool = False) -> list[tuple[Path, int]]:
    """Every kind of :data:`EVERY_KIND` at its :func:`filtered_export_path`; (file, rows) for each, in order.

    Stops at the first failure (a :class:`MhbenchError`); the files written before it stay.
    """
    written: list[tuple[Path, int]] = []
    for what, format in EVERY_KIND:
        out = filtered_export_path(workspace, what, format, rater=rater, session=session)
        written.append((out, export(workspace, what, out, format=format, session=session, rater=rater,
                                    include_judges=include_judges)))
    return written


# --- writing --------------------------------------------------------------------------------------


def _checked(columns: Sequence[str], rows: Iterable[Row]) -> Iterator[Row]:
    """``rows``, the first one checked against the header (a programming error otherwise)."""
    iterator = iter(rows)
    for row in iterator:
        width = sum(c.width if type(c) is CellRun else 1 for c in row)
        if width != len(columns):
            raise AssertionError(f"an export row has {width} cells for {len(columns)} columns")
        yield row
        break
    yield from iterator


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Row]) -> int:
    """UTF-8 with a BOM, ``\\r\\n`` line ends, fields quoted only when they must be (like ``csv.QUOTE_MINIMAL``)."""
    count = 0
    field = csv_field
    run = CellRun
    with path.open("xb", buffering=1 << 20) as handle:
        write = handle.write
        write(b"\xef\xbb\xbf" + b",".join([field(name) for name in columns]) + b"\r\n")
        lines: list[bytes] = []
        for row in rows:
            lines.append(b",".join([(c._csv or c.csv()) if type(c) is run else field(c) for c in row]))
            if len(lines) == 256:
                lines.append(b"")  # the last line's end
                write(b"\r\n".join(lines))
                count += 256
                lines.clear()
        if lines:
            lines.append(b"")
            write(b"\r\n".join(lines))
            count += len(lines) - 1
        handle.flush()
        os.fsync(handle.fileno())
    return count


def _write_jsonl(path: Path, columns: Sequence[str], rows: Iterable[Row]) -> int:
    """One object per line with the columns as keys; runs contribute their members once rendered."""
    keys = [json_value(name) + b":" for name in columns]
    count = 0
    with path.open("xb", buffering=1 << 20) as handle:
        write = handle.write
        for row in rows:
            write(b"{" + json_members(row, keys) + b"}\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    return count


def export(
    workspace: Workspace,
    what: ExportKind,
    out: Path,
    *,
    format: ExportFormat = "csv",
    session: str | None = None,
    rater: str | None = None,
    include_judges: bool = False,
) -> int:
    """Write the current ratings of ``workspace`` as ``what`` to ``out``; the number of rows written.

    ``session`` (an id, name or unique id prefix) and ``rater`` narrow the export; the LLM
    judges' ratings are included only with ``include_judges`` (or when ``rater`` names one). ``out``
    is replaced atomically; an existing folder gets a dated file inside. Only the workspace's
    exports folder is created: any other missing folder is more likely a typo than a wish.
    """
    if what not in EXPORT_KINDS:
        raise MhbenchError(f"cannot export '{what}'.{did_you_mean(what, EXPORT_KINDS)}",
                           fix=f"use one of: {', '.join(EXPORT_KINDS)}.")
    if format not in EXPORT_FORMATS:
        raise MhbenchError(f"no export format '{format}'.", fix=f"use one of: {', '.join(EXPORT_FORMATS)}.")
    out = export_path(workspace, what, format, out)
    if not out.parent.is_dir() and out.parent != workspace.exports_dir:
        problem = "is a file, not a folder" if out.parent.exists() else "does not exist"
        raise MhbenchError(f"{problem}: there is no folder to write the export into.", path=out.parent,
                           fix=f"check --out for a typo, or create the folder first (mkdir -p {shlex.quote(str(out.parent))}).")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MhbenchError(f"cannot create the export folder: {error.strerror}.", path=out.parent,
                           fix="choose a writable place with --out FILE.") from None
    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex[:12]}.tmp")
    write = _write_csv if format == "csv" else _write_jsonl
    try:
        if workspace.db_path.is_file():
            count = _export_from_db(workspace, what, temporary, Cells(format), write, session, rater,
                                    include_judges)
        elif session is not None or rater is not None:
            noun = f"session '{session}'" if session is not None else f"ratings by rater '{rater}'"
            raise MhbenchError(f"no {noun}: the workspace has no database yet.", path=workspace.root,
                               fix="check --workspace, or rate in the Arena mode first.")
        else:
            count = write(temporary, COLUMNS[what], ())
        os.replace(temporary, out)
    except OSError as error:
        raise MhbenchError(f"cannot write the export: {error.strerror}.", path=error.filename or out,
                           fix="check the folder is writable and the disk has room.") from None
    finally:
        temporary.unlink(missing_ok=True)
    return count


def _export_from_db(workspace: Workspace, what: ExportKind, path: Path, cells: Cells,
                    write: Callable[[Path, Sequence[str], Iterable[Row]], int],
                    session: str | None, rater: str | None, include_judges: bool = False) -> int:
    connection = connect(workspace.db_path)
    try:
        # One read transaction: the ratings and the texts they show are one snapshot while raters go on writing.
        connection.execute("BEGIN")
        try:
            query = resolve_filters(connection, session, rater, include_judges)
            return write(path, COLUMNS[what], _checked(COLUMNS[what], ROW_READERS[what](connection, cells, query)))
        finally:
            connection.execute("COMMIT")
    finally:
        connection.close()
