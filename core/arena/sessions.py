"""Arena sessions: items with blind, randomised sides, and responses generated once and shared.

A session is a prompt set, 2 to 16 catalog models, a pair schedule, a system prompt,
generation parameters, a seed and a rubric. Its items are prompts, each with the pair it
compares and the side each model shows on: precomputed from the session's recorded side
seed (``round-robin``), or drawn for a rater when they need the next one (``adaptive``,
:mod:`core.arena.draws`); each item records its draw's seed. See :mod:`core.arena.schedule`. A response is stored once per (context,
model, parameters, seed): every rater of the comparison reads the same text, which is
what makes agreement measurable; a regenerate is a new *generation* of the same key,
recorded as such. Responses naming a model or vendor are flagged; responses that carried
chat-template special tokens are marked as a generation defect.

When a rater sees the names is the session's recorded reveal policy (:data:`REVEAL_POLICIES`).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import aclosing
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from core.arena.prompts import ItemKind, Turn, first_messages, get_prompt_set, history_from_json
from core.arena.rubric import get_rubric
from core.arena.schedule import capacity, check_models, check_schedule, round_robin
from core.base.db import find_row, registry, write_transaction
from core.base.errors import MhbenchError
from core.base.processes import utc_now
from core.base.text import special_tokens_in
from core.base.workspace import Workspace
from core.models import get_model
from core.models.client import ChatRequest, GenerationParams, Message, StreamStats, TextDelta, stream_chat

_LATIN_NAMES = (
    "Qwen", "Alibaba", "Llama", "Meta AI", "Meta", "Facebook", "ChatGPT", "GPT-?[345]", "OpenAI", "Claude",
    "Anthropic", "ERNIE", "ChatGLM", "GLM", "DeepSeek", "Kimi", "Gemini", "Google", "Mistral", "iFlytek", "Spark",
)
_CHINESE_NAMES = (
    "通义千问", "千问", "通义", "阿里巴巴", "阿里云", "阿里", "讯飞", "星火", "科大讯飞", "哈工大", "哈尔滨工业大学",
    "文心一言", "文心", "百度", "智谱", "深度求索", "月之暗面", "谷歌",
)
VENDOR_PATTERN = re.compile(
    # Latin names only as whole words (not "Metabolism"); Chinese has no word boundaries.
    "|".join([*(f"(?<![A-Za-z]){name}(?![A-Za-z])" for name in _LATIN_NAMES), *_CHINESE_NAMES]),
    re.IGNORECASE,
)
"""Names that unblind a side: a response that says who made it is flagged to the rater and in the data."""


Reveal = Literal["end", "item", "never"]
REVEAL_POLICIES: tuple[Reveal, ...] = get_args(Reveal)
"""When a rater of a blind session sees the model names: ``end``, once they have rated every item of the
session (the default: stored answers recur across items, and a per-item reveal teaches the rater to
recognise them); ``item``, after each of their submits; ``never``, not in the Arena at all (the operator
sees them in Results)."""
ITEM_REVEAL_WARNING = ("Names shown after each item: the same stored answers recur in later items, so a rater "
                       "soon recognises them (and the model) before scoring.")

DEFAULT_PARAMS = GenerationParams()
"""temperature 0.7, top_p 0.8, repetition penalty 1.05, 512 tokens, seed 1234: the same for both sides."""


def vendor_flags(text: str) -> list[str]:
    """The model or vendor names in ``text``, each once, in order of appearance."""
    found: list[str] = []
    for match in VENDOR_PATTERN.finditer(text):
        name = match.group(0)
        if name.lower() not in (f.lower() for f in found):
            found.append(name)
    return found


def check_reveal(reveal: str) -> Reveal:
    if reveal not in REVEAL_POLICIES:
        raise MhbenchError(f"unknown reveal policy '{reveal}'.", fix="use one of: " + ", ".join(REVEAL_POLICIES))
    return reveal


def response_defects(text: str) -> list[str]:
    """What is wrong with how an answer was generated: ``special_tokens`` when the server let any through."""
    return ["special_tokens"] if special_tokens_in(text) else []


def params_key(params: GenerationParams, system: str | None) -> str:
    """The identity of how a response was generated: the sampling settings and the system prompt."""
    data = {"params": asdict(params), "system": system or ""}
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def context_key(messages: Sequence[Message]) -> str:
    """The identity of what the model was asked: the whole history up to the user's last turn."""
    payload = json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    id: str
    name: str
    prompt_set_id: str
    model_a: str
    """The first of :attr:`models` (the column every earlier, two-model version wrote)."""
    model_b: str
    """The second of :attr:`models`."""
    system_prompt: str | None
    params: GenerationParams
    params_key: str
    seed: int
    side_seed: int
    rubric: str
    blind: bool
    created_by: str | None
    created_at: str
    models: tuple[str, ...] = ()
    """Every model the session compares (2 to 16), in the order they were given."""
    schedule: str = "round-robin"
    """How each item's pair is drawn: ``round-robin`` or ``adaptive`` (see :mod:`core.arena.schedule`)."""
    reveal: Reveal = "end"
    """When a blind session's raters see the names (:data:`REVEAL_POLICIES`)."""
    client_model: str | None = None
    """A dialogue session's simulated client (a catalog id); ``None`` for opening and turn sessions."""
    turns: int | None = None
    """A dialogue session's counsellor turns per transcript (at most: the client may end earlier)."""
    client_prompt_version: str | None = None
    """The version of the client prompt the client model plays its cases from (:mod:`core.arena.transcripts`)."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Session:
        return cls(
            id=row["id"], name=row["name"], prompt_set_id=row["prompt_set_id"], model_a=row["model_a"],
            model_b=row["model_b"], system_prompt=row["system_prompt"],
            params=GenerationParams(**json.loads(row["params"])), params_key=row["params_key"], seed=row["seed"],
            side_seed=row["side_seed"], rubric=row["rubric"], blind=bool(row["blind"]), created_by=row["created_by"],
            created_at=row["created_at"],
            models=tuple(json.loads(row["models"])) or (row["model_a"], row["model_b"]), schedule=row["schedule"],
            reveal=row["reveal"], client_model=row["client_model"], turns=row["turns"],
            client_prompt_version=row["client_prompt_version"],
        )

    @property
    def adaptive(self) -> bool:
        """Items are drawn per rater, one at a time, from the ratings so far."""
        return self.schedule == "adaptive"


@dataclass(frozen=True)
class Item:
    session_id: str
    position: int
    prompt_id: str
    prompt: str
    reference: str | None
    tags: tuple[str, ...]
    crisis: bool
    left_model: str
    right_model: str
    draw_seed: int | None = None
    """The seed the pair and sides were drawn with (a round-robin session's side seed)."""
    drawn_for: str | None = None
    """The rater an adaptive draw was made for; ``None`` for a round-robin item, shown to every rater."""
    kind: ItemKind = "opening"
    """The prompt row's kind: an opening line, a real conversation's next turn, or a simulated-client dialogue."""
    history: tuple[Turn, ...] = ()
    """A ``turn`` item's conversation so far, ending with the client's turn :attr:`prompt`."""


@dataclass(frozen=True)
class Response:
    id: int
    context_key: str
    model_id: str
    params_key: str
    seed: int
    generation: int
    messages: tuple[Message, ...]
    text: str
    finish_reason: str | None
    ttft_s: float | None
    tokens: int | None
    tokens_per_s: float | None
    flags: tuple[str, ...]
    created_by: str | None
    created_at: str
    defects: tuple[str, ...] = ()
    """Generation defects: ``special_tokens`` when the text carried chat-template tokens (shown without them)."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Response:
        return cls(
            id=row["id"], context_key=row["context_key"], model_id=row["model_id"], params_key=row["params_key"],
            seed=row["seed"], generation=row["generation"], messages=tuple(json.loads(row["messages"])),
            text=row["text"], finish_reason=row["finish_reason"], ttft_s=row["ttft_s"], tokens=row["tokens"],
            tokens_per_s=row["tokens_per_s"], flags=tuple(json.loads(row["flags"])), created_by=row["created_by"],
            created_at=row["created_at"], defects=tuple(json.loads(row["defects"])),
        )


# --- sessions ------------------------------------------------------------------------------------


def checked_session_models(workspace: Workspace, models: Sequence[str], *, schedule: str = "round-robin",
                           rubric: str = "default") -> tuple[str, ...]:
    """The catalog ids of ``models``, once the session they would make is known to be valid; writes nothing.

    A caller that registers something first (a prompt set) checks here before it does, so that
    a refused session leaves nothing behind.
    """
    get_rubric(rubric)
    check_schedule(schedule)
    ids = tuple(get_model(workspace, model).id for model in models)
    if len(ids) == 2 and ids[0] == ids[1]:
        raise MhbenchError("a comparison needs two different models.", fix="pick another model for side B.")
    check_models(ids)
    return ids


def create_session(
    workspace: Workspace,
    prompt_set_id: str,
    *models: str,
    schedule: str = "round-robin",
    system_prompt: str | None = None,
    params: GenerationParams = DEFAULT_PARAMS,
    rubric: str = "default",
    blind: bool = True,
    reveal: str = "end",
    side_seed: int | None = None,
    created_by: str | None = None,
    name: str | None = None,
    client_model: str | None = None,
    turns: int | None = None,
    client_prompt_version: str | None = None,
) -> Session:
    """A new session over the prompt set comparing ``models`` (2 to 16 catalog ids, names or paths).

    A dialogue session (a case set) names its ``client_model`` (a catalog id), the counsellor
    ``turns`` of each transcript and the ``client_prompt_version`` (:mod:`core.arena.transcripts`).

    ``round-robin`` stores every item now, drawn from ``side_seed`` (recorded); ``adaptive``
    stores none: each rater's items are drawn as they rate (:func:`core.arena.draws.draw_item`).
    """

    policy = check_reveal(reveal)
    ids = checked_session_models(workspace, models, schedule=schedule, rubric=rubric)
    prompt_set = get_prompt_set(workspace, prompt_set_id)
    seed = params.seed if params.seed is not None else 0
    side_seed = side_seed if side_seed is not None else random.SystemRandom().randrange(2**31)
    stamp = utc_now()
    digest = hashlib.sha256(f"{stamp}{''.join(ids)}".encode()).hexdigest()[:6]
    session_id = f"{stamp[:10].replace('-', '')}-{digest}"
    title = " vs ".join(ids) if len(ids) <= 3 else f"{ids[0]} vs {len(ids) - 1} others"
    with write_transaction(workspace) as connection:
        connection.execute(
            """INSERT INTO sessions (id, name, prompt_set_id, model_a, model_b, system_prompt, params, params_key,
                   seed, side_seed, rubric, blind, created_by, created_at, models, schedule, reveal, client_model,
                   turns, client_prompt_version)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (session_id, name or title, prompt_set.id, ids[0], ids[1], system_prompt,
             json.dumps(asdict(params)), params_key(params, system_prompt), seed, side_seed, rubric, int(blind),
             created_by, stamp, json.dumps(list(ids), ensure_ascii=False), schedule, policy, client_model, turns,
             client_prompt_version),
        )
        if schedule == "round-robin":
            draws = round_robin(ids, [prompt.id for prompt in prompt_set.prompts], side_seed)
            # A two-model session keeps its prompts' positions as item positions, as it always did.
            positions = [p.position for p in prompt_set.prompts] if len(ids) == 2 else range(len(draws))
            connection.executemany(
                """INSERT INTO items (session_id, position, prompt_id, left_model, right_model, draw_seed)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                [(session_id, position, draw.prompt_id, draw.left, draw.right, side_seed)
                 for position, draw in zip(positions, draws, strict=True)])
    return get_session(workspace, session_id)


def parity_warnings(workspace: Workspace, model_ids: Sequence[str]) -> list[str]:
    """A model whose chat template differs from its source answers out of form: say so before rating."""

    warnings = []
    for model_id in model_ids:
        entry = get_model(workspace, model_id)
        verdict = entry.lineage.get("parity")
        if isinstance(verdict, dict) and not verdict.get("passed"):
            warnings.append(f"{model_id}: {verdict.get('summary')} Its answers may be worse than the model is.")
        elif verdict is None and entry.kind == "gguf":
            warnings.append(f"{model_id}: template parity not checked yet (Models, p).")
    return warnings


def get_session(workspace: Workspace, ref: str) -> Session:
    with registry(workspace) as connection:
        row = find_row(connection, "sessions", ref, noun="session", listing="`mhbench session list`",
                       alternates=(("name", ref),))
    return Session.from_row(row)


def list_sessions(workspace: Workspace) -> list[Session]:
    with registry(workspace) as connection:
        rows = connection.execute("SELECT * FROM sessions ORDER BY created_at DESC").fetchall()
    return [Session.from_row(row) for row in rows]


ITEM_QUERY = """SELECT i.*, p.text, p.reference, p.tags, p.crisis, p.kind, p.history FROM items i
    JOIN sessions s ON s.id = i.session_id
    JOIN prompts p ON p.set_id = s.prompt_set_id AND p.id = i.prompt_id"""


SET_ASIDE = "SELECT item_position FROM answer_reports WHERE session_id = ? AND rater = ?"
"""The positions a rater set aside by reporting a broken answer (parameters: session id, rater)."""


def item_from_row(r: sqlite3.Row) -> Item:
    return Item(r["session_id"], r["position"], r["prompt_id"], r["text"], r["reference"],
                tuple(json.loads(r["tags"])), bool(r["crisis"]), r["left_model"], r["right_model"],
                r["draw_seed"], r["drawn_for"], r["kind"], history_from_json(r["history"]))


def session_items(workspace: Workspace, session_id: str, rater: str | None = None) -> list[Item]:
    """The session's items in order; with ``rater``, only those shown to them (theirs of an adaptive session),
    less those they set aside by reporting a broken answer (:mod:`core.arena.reports`)."""

    where, parameters = "i.session_id = ?", [session_id]
    if rater is not None:
        where = where + f" AND (i.drawn_for IS NULL OR i.drawn_for = ?) AND i.position NOT IN ({SET_ASIDE})"
        parameters = [session_id, rater, session_id, rater]
    with registry(workspace) as connection:
        rows = connection.execute(f"{ITEM_QUERY} WHERE {where} ORDER BY i.position", parameters).fetchall()
    return [item_from_row(r) for r in rows]


def first_unrated(workspace: Workspace, session_id: str, rater: str) -> int | None:
    """The position of the first item shown to ``rater`` they have neither rated (turn 1) nor set aside;
    ``None`` when none is left."""

    with registry(workspace) as connection:
        row = connection.execute(
            f"""SELECT MIN(position) FROM items WHERE session_id = ? AND (drawn_for IS NULL OR drawn_for = ?)
                   AND position NOT IN
                   (SELECT item_position FROM ratings WHERE session_id = ? AND rater = ? AND turn = 1)
                   AND position NOT IN ({SET_ASIDE})""",
            (session_id, rater, session_id, rater, session_id, rater)).fetchone()
    return None if row[0] is None else int(row[0])


def rated_positions(workspace: Workspace, session_id: str, rater: str) -> set[int]:
    """The items ``rater`` has a current rating of (turn 1) in the session."""

    with registry(workspace) as connection:
        rows = connection.execute(
            "SELECT DISTINCT item_position FROM ratings WHERE session_id = ? AND rater = ? AND turn = 1 "
            "AND current = 1", (session_id, rater)).fetchall()
    return {int(row[0]) for row in rows}


def opening_messages(item: Item) -> list[Message]:
    """What a candidate is asked first (without the system prompt): a turn item's history, else the opening line.

    Every place that builds a candidate's messages starts here, so that an answer is stored once per history.
    """
    return list(first_messages(item.prompt, item.history))


# --- responses -----------------------------------------------------------------------------------


def stored_response(workspace: Workspace, session: Session, model_id: str, messages: Sequence[Message],
                    generation: int | None = None) -> Response | None:
    """The stored response for this context (the newest generation unless one is named)."""

    where = "context_key = ? AND model_id = ? AND params_key = ? AND seed = ?"
    parameters: tuple[Any, ...] = (context_key(messages), model_id, session.params_key, session.seed)
    if generation is not None:
        where, parameters = where + " AND generation = ?", (*parameters, generation)
    with registry(workspace) as connection:
        row = connection.execute(
            f"SELECT * FROM responses WHERE {where} ORDER BY generation DESC LIMIT 1", parameters).fetchone()
    return Response.from_row(row) if row is not None else None


def store_response(
    workspace: Workspace,
    session: Session,
    model_id: str,
    messages: Sequence[Message],
    text: str,
    stats: StreamStats | None,
    *,
    generation: int = 0,
    created_by: str | None = None,
) -> Response:
    """Store a finished response; when another rater stored the same one first, theirs is kept and returned."""

    key = context_key(messages)
    with write_transaction(workspace) as connection:
        connection.execute(
            """INSERT OR IGNORE INTO responses (context_key, model_id, params_key, seed, generation, messages, text,
                   finish_reason, ttft_s, tokens, tokens_per_s, flags, created_by, created_at, defects)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (key, model_id, session.params_key, session.seed, generation,
             json.dumps([dict(m) for m in messages], ensure_ascii=False), text,
             stats.finish_reason if stats else None, stats.ttft_s if stats else None,
             stats.tokens if stats else None, stats.tokens_per_s if stats else None,
             json.dumps(vendor_flags(text), ensure_ascii=False), created_by, utc_now(),
             json.dumps(response_defects(text))),
        )
        row = connection.execute(
            "SELECT * FROM responses WHERE context_key = ? AND model_id = ? AND params_key = ? AND seed = ? "
            "AND generation = ?", (key, model_id, session.params_key, session.seed, generation)).fetchone()
    return Response.from_row(row)


def shown_response(workspace: Workspace, session: Session, item_position: int, model_id: str,
                   messages: Sequence[Message], rater: str) -> Response | None:
    """The version of this answer that ``rater`` is shown on this item: pinned once the item is rated.

    The rule: the version ``rater``'s own current rating of the item recorded for this context;
    else the version the item's *first* rating (by anyone, a judge included) recorded for it;
    else, the item not yet rated with this context, the newest generation. So the operator's
    regenerate (a new generation) reaches items not yet rated, in every session sharing the
    answer, and never changes what an already rated item shows: every rater of it judges the
    text it was first rated on, and each rating records the exact versions it was given
    (``left_response_id``/``right_response_id``).
    """

    with registry(workspace) as connection:
        row = connection.execute(
            """SELECT resp.* FROM ratings r
                   JOIN responses resp ON resp.id IN (r.left_response_id, r.right_response_id)
               WHERE r.session_id = ? AND r.item_position = ? AND resp.model_id = ? AND resp.context_key = ?
                   AND resp.params_key = ? AND resp.seed = ?
               ORDER BY (r.rater = ? AND r.current = 1) DESC, r.id LIMIT 1""",
            (session.id, item_position, model_id, context_key(messages), session.params_key, session.seed,
             rater)).fetchone()
    if row is not None:
        return Response.from_row(row)
    return stored_response(workspace, session, model_id, messages)


def next_generation(workspace: Workspace, session: Session, model_id: str, messages: Sequence[Message]) -> int:
    current = stored_response(workspace, session, model_id, messages)
    return 0 if current is None else current.generation + 1


def get_response(workspace: Workspace, response_id: int) -> Response:
    with registry(workspace) as connection:
        row = connection.execute("SELECT * FROM responses WHERE id = ?", (response_id,)).fetchone()
    if row is None:
        raise MhbenchError(f"no response {response_id}.", fix="the database was edited by hand?")
    return Response.from_row(row)


async def generate(
    base_url: str,
    model: str,
    session: Session,
    messages: Sequence[Message],
    *,
    api_key: str | None = None,
    on_text: Any = None,
    stop: Sequence[str] = (),
) -> tuple[str, StreamStats]:
    """Stream one answer with the session's system prompt and parameters; ``on_text`` gets each piece.

    ``stop``: the model's end-of-turn tokens (its target's ``stop``), so that no raw token reaches the rater.
    """

    request = ChatRequest(list(messages), session.params, model, system=session.system_prompt, stop=stop)
    parts: list[str] = []
    stats: StreamStats | None = None
    # aclosing: whatever ends this (a cancelled answer worker, an error in on_text), the connection
    # closes now and the server frees the slot, instead of when the generator is collected.
    async with aclosing(stream_chat(base_url, request, api_key=api_key)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                parts.append(event.text)
                if on_text is not None:
                    on_text(event.text)
            else:
                stats = event
    assert stats is not None
    return "".join(parts), stats


def session_summary(workspace: Workspace, session: Session) -> Mapping[str, Any]:
    """Counts for a session list: items to rate (an adaptive session's possible comparisons), ratings per rater."""

    with registry(workspace) as connection:
        items = connection.execute("SELECT COUNT(*) FROM items WHERE session_id = ?", (session.id,)).fetchone()[0]
        if session.adaptive:
            prompts = connection.execute("SELECT COUNT(*) FROM prompts WHERE set_id = ?",
                                         (session.prompt_set_id,)).fetchone()[0]
            items = capacity(session.models, prompts)
        raters = {r["rater"]: r["n"] for r in connection.execute(
            "SELECT rater, COUNT(DISTINCT item_position) AS n FROM ratings WHERE session_id = ? AND current = 1 "
            "AND turn = 1 GROUP BY rater", (session.id,)).fetchall()}
    return {"items": items, "raters": raters}


def extend_session(workspace: Workspace, ref: str, models: Sequence[str]) -> Session:
    """Add ``models`` to an adaptive session: its pairs are drawn as raters rate, so a new model joins the draws.

    A round-robin session's items were drawn when it was made; adding a model there would change
    what its raters already rated against, so it is refused.
    """
    session = get_session(workspace, ref)
    if not session.adaptive:
        raise MhbenchError(f"session {session.name} ({session.id}) is round-robin: its items are fixed.",
                           fix="add the models to an adaptive session, or make a new session with them all.")
    wanted = [*session.models, *(model for model in models if model not in session.models)]
    ids = checked_session_models(workspace, wanted, schedule=session.schedule, rubric=session.rubric)
    with write_transaction(workspace) as connection:
        connection.execute("UPDATE sessions SET models = ? WHERE id = ?", (json.dumps(list(ids)), session.id))
    return get_session(workspace, session.id)
