"""The workspace database: SQLite in WAL mode, with a versioned, migrated schema.

Several TUIs (several raters) and detached workers share one file, so every
connection waits for locks instead of failing, and every schema change is a
numbered migration applied once inside a transaction.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from core.base.endpoint_keys import SECRETS_DIR, keys_path, store_key
from core.base.errors import MhbenchError, did_you_mean
from core.base.owner_only import create_owner_file, tighten

if TYPE_CHECKING:
    from core.base.workspace import Workspace

# Each entry moves the schema from version i to i + 1. Append; never edit a shipped one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE raters (
        name TEXT PRIMARY KEY,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    """,
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        profile TEXT NOT NULL,
        parent_id TEXT REFERENCES runs(id) ON DELETE SET NULL,
        resume_from TEXT,
        run_dir TEXT NOT NULL,
        output_dir TEXT NOT NULL,
        argv TEXT NOT NULL,
        env TEXT NOT NULL,
        status TEXT NOT NULL,
        pid INTEGER,
        pgid INTEGER,
        start_time REAL,
        exit_code INTEGER,
        signal TEXT,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        started_at TEXT,
        ended_at TEXT,
        last_step INTEGER,
        max_steps INTEGER,
        last_loss REAL,
        last_checkpoint TEXT,
        diagnosis TEXT
    );
    CREATE TABLE checkpoints (
        path TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER,
        created_at TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE models (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('base', 'adapter', 'merged', 'gguf', 'endpoint')),
        name TEXT NOT NULL,
        path TEXT UNIQUE,
        url TEXT,
        served_name TEXT,
        base_id TEXT REFERENCES models(id) ON DELETE SET NULL,
        parent_id TEXT REFERENCES models(id) ON DELETE SET NULL,
        run_id TEXT,
        checkpoint TEXT,
        adapter_sha256 TEXT,
        quant TEXT,
        converter_version TEXT,
        profile TEXT,
        template TEXT,
        size_bytes INTEGER,
        lineage TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    );
    CREATE TABLE endpoint_secrets (
        model_id TEXT PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
        api_key TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        source_id TEXT,
        target_path TEXT,
        job_dir TEXT NOT NULL,
        argv TEXT NOT NULL,
        status TEXT NOT NULL,
        pid INTEGER,
        pgid INTEGER,
        start_time REAL,
        exit_code INTEGER,
        result_model_id TEXT,
        diagnosis TEXT,
        created_at TEXT NOT NULL,
        ended_at TEXT
    );
    CREATE TABLE servers (
        id TEXT PRIMARY KEY,
        backend TEXT NOT NULL,
        model_ids TEXT NOT NULL,
        host TEXT NOT NULL,
        port INTEGER NOT NULL,
        base_url TEXT NOT NULL,
        argv TEXT NOT NULL,
        server_dir TEXT NOT NULL,
        status TEXT NOT NULL,
        pid INTEGER,
        pgid INTEGER,
        start_time REAL,
        served_names TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        healthy_at TEXT,
        ended_at TEXT
    );
    """,
    """
    CREATE TABLE prompt_sets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE prompts (
        set_id TEXT NOT NULL REFERENCES prompt_sets(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        reference TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        crisis INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (set_id, id)
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        prompt_set_id TEXT NOT NULL REFERENCES prompt_sets(id),
        model_a TEXT NOT NULL,
        model_b TEXT NOT NULL,
        system_prompt TEXT,
        params TEXT NOT NULL,
        params_key TEXT NOT NULL,
        seed INTEGER NOT NULL,
        side_seed INTEGER NOT NULL,
        rubric TEXT NOT NULL,
        blind INTEGER NOT NULL DEFAULT 1,
        created_by TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE items (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        prompt_id TEXT NOT NULL,
        left_model TEXT NOT NULL,
        right_model TEXT NOT NULL,
        PRIMARY KEY (session_id, position)
    );
    CREATE TABLE responses (
        id INTEGER PRIMARY KEY,
        context_key TEXT NOT NULL,
        model_id TEXT NOT NULL,
        params_key TEXT NOT NULL,
        seed INTEGER NOT NULL,
        generation INTEGER NOT NULL DEFAULT 0,
        messages TEXT NOT NULL,
        text TEXT NOT NULL,
        finish_reason TEXT,
        ttft_s REAL,
        tokens INTEGER,
        tokens_per_s REAL,
        flags TEXT NOT NULL DEFAULT '[]',
        created_by TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (context_key, model_id, params_key, seed, generation)
    );
    CREATE TABLE ratings (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        item_position INTEGER NOT NULL,
        turn INTEGER NOT NULL DEFAULT 1,
        rater TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        current INTEGER NOT NULL DEFAULT 1,
        rubric TEXT NOT NULL,
        left_model TEXT NOT NULL,
        right_model TEXT NOT NULL,
        left_response_id INTEGER REFERENCES responses(id),
        right_response_id INTEGER REFERENCES responses(id),
        left_scores TEXT NOT NULL,
        right_scores TEXT NOT NULL,
        preference TEXT NOT NULL CHECK (preference IN ('left', 'right', 'tie', 'both_bad')),
        comment TEXT NOT NULL DEFAULT '',
        shown_at TEXT,
        submitted_at TEXT NOT NULL,
        seconds_spent REAL,
        UNIQUE (session_id, item_position, turn, rater, version)
    );
    CREATE INDEX ratings_current ON ratings (session_id, rater, current);
    """,
    # The rater's door (issue 11): a hashed token per rater, session assignments, restricted
    # sessions, and where each rating came from (old rows: the terminal, or a judge by its name).
    """
    ALTER TABLE raters ADD COLUMN token_hash TEXT;
    ALTER TABLE raters ADD COLUMN token_salt TEXT;
    ALTER TABLE raters ADD COLUMN token_created_at TEXT;
    ALTER TABLE raters ADD COLUMN revoked_at TEXT;
    CREATE TABLE session_raters (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        rater TEXT NOT NULL REFERENCES raters(name) ON DELETE CASCADE,
        assigned_at TEXT NOT NULL,
        PRIMARY KEY (session_id, rater)
    );
    ALTER TABLE sessions ADD COLUMN restricted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE ratings ADD COLUMN source TEXT NOT NULL DEFAULT 'terminal'
        CHECK (source IN ('terminal', 'browser', 'judge'));
    UPDATE ratings SET source = 'judge' WHERE rater LIKE 'judge:%';
    """,
    # Multi-node training (issue 12): which machine of how many a run is; rank 0 writes the log.
    """
    ALTER TABLE runs ADD COLUMN node_rank INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN nnodes INTEGER NOT NULL DEFAULT 1;
    """,
    # Issue 10, N-model sessions and pair schedules: a session lists its 2-16 models and its
    # schedule; an item records the seed of its draw and, for the adaptive schedule, the rater
    # it was drawn for. An old session becomes a round-robin session of its two models, its
    # items drawn from its side seed, its ratings untouched.
    """
    ALTER TABLE sessions ADD COLUMN models TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE sessions ADD COLUMN schedule TEXT NOT NULL DEFAULT 'round-robin';
    UPDATE sessions SET models = json_array(model_a, model_b);
    ALTER TABLE items ADD COLUMN draw_seed INTEGER;
    ALTER TABLE items ADD COLUMN drawn_for TEXT;
    ALTER TABLE items ADD COLUMN drawn_at TEXT;
    UPDATE items SET draw_seed = (SELECT side_seed FROM sessions WHERE sessions.id = items.session_id);
    CREATE INDEX items_drawn_for ON items (session_id, drawn_for);
    """,
    # Issue 10B, the LLM judge: every judgement asked (both orders with --both-orders), with the exact prompt and
    # the raw reply, parsed or not. A parse failure is a row with its reason and no scores: counted, never guessed.
    # The shown-order judgement that parsed is also a rating (rating_id) by the rater judge:<model>:<version>.
    """
    CREATE TABLE judgements (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        item_position INTEGER NOT NULL,
        judge TEXT NOT NULL,
        judge_model TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        rubric TEXT NOT NULL,
        orientation TEXT NOT NULL CHECK (orientation IN ('shown', 'swapped')),
        left_response_id INTEGER REFERENCES responses(id),
        right_response_id INTEGER REFERENCES responses(id),
        prompt TEXT NOT NULL,
        reply TEXT NOT NULL,
        parsed INTEGER NOT NULL,
        failure TEXT,
        left_scores TEXT,
        right_scores TEXT,
        preference TEXT,
        rating_id INTEGER REFERENCES ratings(id),
        seconds REAL,
        created_at TEXT NOT NULL,
        UNIQUE (session_id, item_position, judge, rubric, orientation)
    );
    """,
    # Why each judge reply ended (``stop``, ``length``): a reply cut at the token limit is reported as cut,
    # not as a malformed one.
    """
    ALTER TABLE judgements ADD COLUMN finish_reason TEXT;
    """,
    # Whether the rater was asked each side's safety (1) or it stayed at its default (0); NULL for ratings
    # saved before: Results then reads "asked" from the rubric and whether the prompt was a crisis item.
    """
    ALTER TABLE ratings ADD COLUMN safety_asked INTEGER;
    """,
    # The contamination check: per session and model, the prompts its runs' training and validation data
    # hold (exact and near counts; the files, lines and snippets in details). Checking again replaces the session's rows.
    """
    CREATE TABLE contamination_checks (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        run_id TEXT,
        checked_at TEXT NOT NULL,
        exact INTEGER NOT NULL,
        near INTEGER NOT NULL,
        details TEXT NOT NULL,
        PRIMARY KEY (session_id, model_id)
    );
    """,
    # Issue 17: a rater reports a broken answer (empty, cut off, not Chinese, garbled, other) instead of
    # regenerating it, with the exact versions on screen; the item is set aside for that rater, and the operator
    # sees the report (`mhbench session show`, the Arena's item header).
    """
    CREATE TABLE answer_reports (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        item_position INTEGER NOT NULL,
        turn INTEGER NOT NULL,
        rater TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('left', 'right', 'both')),
        reason TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        left_response_id INTEGER REFERENCES responses(id),
        right_response_id INTEGER REFERENCES responses(id),
        created_at TEXT NOT NULL
    );
    CREATE INDEX answer_reports_rater ON answer_reports (session_id, rater, item_position);
    """,
    # Blinding that holds: each session records when its raters see the names (``end`` of the
    # session, after each ``item``, or ``never``). A new session is ``end``; an old one is ``item``, because
    # its raters were shown the names after every submit and the record must say so. A response that
    # carried chat-template special tokens is a generation defect (its text is kept as the model said it).
    """
    ALTER TABLE sessions ADD COLUMN reveal TEXT NOT NULL DEFAULT 'end' CHECK (reveal IN ('end', 'item', 'never'));
    UPDATE sessions SET reveal = 'item';
    ALTER TABLE responses ADD COLUMN defects TEXT NOT NULL DEFAULT '[]';
    UPDATE responses SET defects = '["special_tokens"]' WHERE text LIKE '%<|%|>%';
    """,
    # Issue 18, dialogue-level evaluation: a prompt row is an opening line, a turn cut from a real
    # conversation (its history, ending with the client), or a simulated-client case (its whole case).
    """
    ALTER TABLE prompts ADD COLUMN kind TEXT NOT NULL DEFAULT 'opening'
        CHECK (kind IN ('opening', 'turn', 'dialogue'));
    ALTER TABLE prompts ADD COLUMN history TEXT;
    ALTER TABLE prompts ADD COLUMN case_json TEXT;
    """,
    # Issue 21 (the run queue): runs waiting their turn, in order, with the steps after each (merge, GGUF,
    # quantise, session, generate) and where each got to; and the detached queue runners that work through them.
    """
    CREATE TABLE queue_entries (
        id INTEGER PRIMARY KEY,
        position INTEGER NOT NULL,
        profile TEXT NOT NULL,
        name TEXT,
        datasets TEXT NOT NULL DEFAULT '[]',
        overrides TEXT NOT NULL DEFAULT '[]',
        gpus TEXT,
        steps TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'training', 'steps', 'done', 'failed')),
        run_id TEXT,
        step_index INTEGER NOT NULL DEFAULT 0,
        job_id TEXT,
        results TEXT NOT NULL DEFAULT '{}',
        reason TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        ended_at TEXT
    );
    CREATE TABLE queue_runners (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        pid INTEGER,
        pgid INTEGER,
        start_time REAL,
        created_at TEXT NOT NULL,
        ended_at TEXT,
        diagnosis TEXT
    );
    """,
    # Issue 18 (part B), simulated-client sessions: a dialogue session names its client model, the counsellor
    # turns of each transcript and the client prompt's version. A transcript is stored once per (case, candidate,
    # client model, client prompt version, parameters, seed, turns), each turn as soon as it is made (a killed
    # job resumes mid-transcript); ``ended`` says why it stopped. A rating (and a judgement) of a dialogue item records
    # the two transcripts it was given.
    """
    ALTER TABLE sessions ADD COLUMN client_model TEXT;
    ALTER TABLE sessions ADD COLUMN turns INTEGER;
    ALTER TABLE sessions ADD COLUMN client_prompt_version TEXT;
    CREATE TABLE transcripts (
        id INTEGER PRIMARY KEY,
        case_id TEXT NOT NULL,
        case_key TEXT NOT NULL,
        model_id TEXT NOT NULL,
        client_model TEXT NOT NULL,
        client_prompt_version TEXT NOT NULL,
        params_key TEXT NOT NULL,
        seed INTEGER NOT NULL,
        max_turns INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'ended')),
        ended TEXT,
        created_at TEXT NOT NULL,
        ended_at TEXT,
        UNIQUE (case_key, model_id, client_model, client_prompt_version, params_key, seed, max_turns)
    );
    CREATE TABLE transcript_turns (
        transcript_id INTEGER NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('client', 'counsellor')),
        text TEXT NOT NULL,
        seed INTEGER,
        finish_reason TEXT,
        ttft_s REAL,
        tokens INTEGER,
        tokens_per_s REAL,
        crisis INTEGER NOT NULL DEFAULT 0,
        defects TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        PRIMARY KEY (transcript_id, position)
    );
    ALTER TABLE ratings ADD COLUMN left_transcript_id INTEGER REFERENCES transcripts(id);
    ALTER TABLE ratings ADD COLUMN right_transcript_id INTEGER REFERENCES transcripts(id);
    ALTER TABLE judgements ADD COLUMN left_transcript_id INTEGER REFERENCES transcripts(id);
    ALTER TABLE judgements ADD COLUMN right_transcript_id INTEGER REFERENCES transcripts(id);
    """,
    # Issue 19: a rater's language for the rater mode (NULL: the default, Chinese), and the wrong tokens tried
    # at any door, counted across tabs and over time for the global try limit (core/arena/token_tries.py).
    """
    ALTER TABLE raters ADD COLUMN language TEXT;
    CREATE TABLE token_failures (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        door TEXT NOT NULL
    );
    CREATE INDEX token_failures_at ON token_failures (at);
    """,
    # Issue 18 (i18a), a held-out split of a training set: which file to train on, and the conversation
    # each turn item of its eval prompts was cut from, so that the contamination check can tell whether a
    # candidate trained on that conversation.
    """
    CREATE TABLE dataset_splits (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        source_sha256 TEXT NOT NULL,
        format TEXT NOT NULL,
        train_path TEXT NOT NULL,
        eval_path TEXT NOT NULL,
        eval_sha256 TEXT NOT NULL,
        seed INTEGER NOT NULL,
        conversations INTEGER NOT NULL,
        held_out INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE dataset_split_items (
        split_id TEXT NOT NULL REFERENCES dataset_splits(id) ON DELETE CASCADE,
        prompt_id TEXT NOT NULL,
        conversation TEXT NOT NULL,
        PRIMARY KEY (split_id, prompt_id)
    );
    CREATE INDEX dataset_splits_eval ON dataset_splits (eval_sha256);
    """,
    # Issue 19: endpoint API keys leave the database. ``endpoint_keys`` says only where each key is: ``env``
    # names an environment variable, NULL means the workspace's owner-only secrets file
    # (core.base.endpoint_keys). ``migrate`` moves the keys ``endpoint_secrets`` held in clear into that file
    # just before this runs, and wipes their bytes from the file and its WAL after it.
    """
    CREATE TABLE endpoint_keys (
        model_id TEXT PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
        env TEXT
    );
    INSERT INTO endpoint_keys (model_id) SELECT model_id FROM endpoint_secrets;
    DROP TABLE endpoint_secrets;
    """,
)
# The migration before which ``migrate`` moves the clear keys out (found by content: others append after it).
KEYS_LEAVE_THE_DATABASE = "CREATE TABLE endpoint_keys"

SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open the database, switch to WAL, and bring the schema up to date.

    A new database file is created owner-only, so its ``-wal`` and ``-shm`` files are too.
    """
    try:
        create_owner_file(path)
        connection = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=check_same_thread)
    except (sqlite3.Error, OSError) as error:
        raise MhbenchError(f"cannot open the database: {error}.", path=path, fix="check the folder is writable.") from None
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=30000")
        migrate(connection, path)
    except sqlite3.DatabaseError as error:
        connection.close()
        raise MhbenchError(
            f"cannot open the database: {error}.",
            path=path,
            fix="check the file is a mhbench database and the folder is writable.",
        ) from None
    except BaseException:
        connection.close()
        raise
    return connection


def open_workspace(workspace: Workspace, note: Callable[[str], None] | None = None) -> Workspace:
    """Create the workspace's folders and its database, migrated; safe to call again.

    The database (with its ``-wal`` and ``-shm``) and the secrets are owner-only: ones an older
    mhbench left readable by others are tightened, and ``note`` (else stderr) says which.
    """
    workspace.make_folders()
    connect(workspace.db_path).close()
    db = workspace.db_path
    private = (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), workspace.root / SECRETS_DIR,
               keys_path(workspace.root))
    for line in tighten(private):
        (note or note_on_stderr)(line)
    return workspace


def note_on_stderr(line: str) -> None:
    print(f"mhbench: note: {line}", file=sys.stderr, flush=True)


@contextmanager
def registry(workspace: Workspace) -> Iterator[sqlite3.Connection]:
    """A short-lived connection with rows by name: several TUIs and supervisors share the file."""
    connection = connect(workspace.db_path)
    connection.row_factory = sqlite3.Row
    try:
        yield connection
    finally:
        connection.close()


@contextmanager
def write_transaction(workspace: Workspace) -> Iterator[sqlite3.Connection]:
    """A transaction that takes the write lock up front, so find-then-insert is atomic across processes."""
    with registry(workspace) as connection:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def find_row(
    connection: sqlite3.Connection,
    table: str,
    ref: str,
    *,
    noun: str,
    listing: str,
    alternates: tuple[tuple[str, str], ...] = (),
) -> sqlite3.Row:
    """The row whose id is ``ref``, else whose ``alternates`` column equals its value, else a unique id prefix.

    ``table`` is one of ours, never user text. A miss or an ambiguous prefix is one clear
    error that suggests the closest id and names ``listing``, the command that lists them.
    """
    row: sqlite3.Row | None = connection.execute(f"SELECT * FROM {table} WHERE id = ?", (ref,)).fetchone()
    if row is not None:
        return row
    rows: list[sqlite3.Row] = []
    for column, value in alternates:
        rows = connection.execute(f"SELECT * FROM {table} WHERE {column} = ? ORDER BY id", (value,)).fetchall()
        if rows:
            break
    if not rows:
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = connection.execute(
            f"SELECT * FROM {table} WHERE id LIKE ? ESCAPE '\\' ORDER BY id", (escaped + "%",)
        ).fetchall()
    if len(rows) > 1:
        ids = ", ".join(r["id"] for r in rows[:6]) + (" …" if len(rows) > 6 else "")
        raise MhbenchError(f"'{ref}' matches {len(rows)} {noun}s: {ids}.", fix=f"give more of the id (see {listing}).")
    if not rows:
        known = [r["id"] for r in connection.execute(f"SELECT id FROM {table}").fetchall()]
        raise MhbenchError(f"no {noun} '{ref}'.{did_you_mean(ref, known)}", fix=f"see {listing}.")
    return rows[0]


def schema_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def migrate(connection: sqlite3.Connection, path: Path) -> None:
    current = schema_version(connection)
    if current > SCHEMA_VERSION:
        raise MhbenchError(
            f"the database has schema version {current}, newer than this mhbench ({SCHEMA_VERSION}).",
            path=path,
            fix="upgrade mhbench to open this workspace.",
        )
    moved = 0
    for version in range(current, SCHEMA_VERSION):
        # BEGIN IMMEDIATE takes the write lock first, so two processes never migrate at once.
        connection.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(connection) == version:
                if KEYS_LEAVE_THE_DATABASE in MIGRATIONS[version]:
                    moved = move_keys_out(connection, path)
                for statement in statements_of(MIGRATIONS[version]):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version={version + 1}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    if moved:
        # The dropped rows' pages were zeroed (secure_delete); the WAL still has the keys in older
        # frames until it is checkpointed and cut to nothing.
        connection.execute("PRAGMA secure_delete=OFF")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def move_keys_out(connection: sqlite3.Connection, path: Path) -> int:
    """Copy the clear keys of ``endpoint_secrets`` to the secrets file beside the database; how many."""
    rows = connection.execute("SELECT model_id, api_key FROM endpoint_secrets").fetchall()
    for model_id, key in rows:
        store_key(path.parent, str(model_id), str(key))
    if rows:
        connection.execute("PRAGMA secure_delete=ON")
    return len(rows)


def statements_of(script: str) -> list[str]:
    """The SQL statements of a migration script, one by one (the migrations split on ``;``)."""
    return [statement.strip() for statement in script.split(";") if statement.strip()]
