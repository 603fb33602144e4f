"""Exports of the arena's ratings: CSV for a spreadsheet, JSONL for a program.

Three kinds, each from the *current* version of every rating (an edited rating exports
its last version only; the older ones stay in the database for audit):

* ``ratings``: one row per rated response, so two per rating (side A = the left one,
  side B = the right one), with the model revealed, its lineage, the response, its
  stream statistics, the side's rubric scores, the rater's preference and the session's
  generation settings (:data:`RATING_COLUMNS`).
* ``comparisons``: one row per rating: who was left, who right, and who won
  (:data:`COMPARISON_COLUMNS`).
* ``battles``: Chatbot Arena / MT-bench human-judgement battles, one per rating
  (:data:`BATTLE_COLUMNS`), JSONL by nature; as CSV the conversations are JSON text.

Decisions an analyst should know:

* ``won`` is 1 for the preferred side and 0 for the other; a ``tie`` and a ``both bad``
  are both 0.5 on each side, as Chatbot Arena and :mod:`core.stats` count both kinds of
  tie. Filter on ``preference`` to treat ``both bad`` otherwise.
* The default rubric's safety answer (its ``safe`` key) and CPsyCoun's ``safety`` score
  share the ``safety`` column (1 safe, 0 unsafe); a score the rubric does not have is empty.
* ``item`` is the item's position in its session (0-based, as stored); ``prompt`` is the
  prompt-set prompt the item opens with.
* Timestamps are UTC, ISO 8601 with ``Z``; the battles' ``tstamp`` is Unix seconds.
* ``response`` is the answer as the rater saw it: a chat template's special tokens (``<|im_end|>``,
  ``<|eot_id|>``) and whatever the model wrote after an end-of-turn token are left out; ``defects``
  then says ``special_tokens`` (the database keeps the text as the model wrote it).
* In CSV, lists (``prompt_tags``, ``vendor_flags``, ``defects``) are ``;``-joined and flags (``crisis``,
  ``blind``, ``anony``) are 0/1; JSONL keeps lists and ``true``/``false``, and escapes
  U+2028, U+2029 and U+0085 so ``str.splitlines()`` still sees one object per line.
* A rating saved without its responses (or whose model left the catalog) exports empty
  response (or lineage) cells; its battle conversations end with the user's turn.
* A battle's ``question_id`` is ``<prompt set id>/<prompt id>``: the same question under
  several raters or sessions shares it (MT-bench's meaning), ``judge`` is the rater.
* ``source`` (last column of every kind) says where the rating came from: ``terminal``,
  ``browser`` (the rater's door, ``mhbench web``) or ``judge`` (a ``judge:…`` rater).

Control characters (CSV and JSONL alike, every text cell: :func:`clean_text`): model output
is untrusted, and a file is read in terminals (``cat``, ``less``, ``jq``) and editors, so whole
ESC/CSI/OSC/DCS sequences (colours, cursor moves, OSC 8 hyperlinks, window titles), the other
C0 controls (NUL included), DEL, the C1 controls, the bidi overrides and isolates
(U+202A-U+202E, U+2066-U+2069) and the bidi marks (U+200E, U+200F, U+061C) are removed.
Tabs, newlines and carriage returns are kept (CSV quotes a cell that has them). Rich markup
is plain text and stays.

Spreadsheet safety (CSV only): the file is UTF-8 with a BOM so Excel reads Chinese, and a
text cell that a spreadsheet would open as a formula (its first character, after leading
white space and once cleaned, is ``= + - @``, a tab or a carriage return, or a full-width
``＝ ＋ － ＠``) gets a leading apostrophe. Numbers mhbench wrote (ids, scores, timings) stay
numbers. JSONL keeps the cleaned text as it is, without apostrophes.

Every file is written to a temporary file beside the target and renamed over it, so a
reader never sees half an export. Where endpoint API keys are (``endpoint_keys``) and endpoint
URLs are never read.

Speed: one query joins each current rating to its session and item; sessions, prompts,
responses and models are each read once into a dict, and the cells they fill are a
:class:`CellRun` rendered once (escaped, quoted, encoded) however many rows show them. The
CSV is written by :func:`csv_field`, which quotes exactly as ``csv.writer`` with
``QUOTE_MINIMAL`` does (tested against it), so 100,000 ratings (200,000 rows, about 240 MB)
export in about 1.3 s (``tests/bench/export_bench.py``).
"""

from __future__ import annotations

from core.results.export.cells import Row, clean_text, csv_field, language, spreadsheet_safe, unix_seconds, utc_iso
from core.results.export.columns import (
    BATTLE_COLUMNS,
    BATTLE_WINNERS,
    COLUMNS,
    COMPARISON_COLUMNS,
    EXPORT_FORMATS,
    EXPORT_KINDS,
    RATING_COLUMNS,
    SCORE_COLUMNS,
    WON,
    ExportFormat,
    ExportKind,
)
from core.results.export.writer import (
    EVERY_KIND,
    default_export_path,
    export,
    export_all,
    export_path,
    filtered_export_path,
)

__all__ = [
    "BATTLE_COLUMNS",
    "BATTLE_WINNERS",
    "COLUMNS",
    "COMPARISON_COLUMNS",
    "EVERY_KIND",
    "EXPORT_FORMATS",
    "EXPORT_KINDS",
    "RATING_COLUMNS",
    "SCORE_COLUMNS",
    "WON",
    "ExportFormat",
    "ExportKind",
    "Row",
    "clean_text",
    "csv_field",
    "default_export_path",
    "export",
    "export_all",
    "export_path",
    "filtered_export_path",
    "language",
    "spreadsheet_safe",
    "unix_seconds",
    "utc_iso",
]
