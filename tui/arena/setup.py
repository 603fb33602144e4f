"""The new-session form of the Arena: rater, prompt set, 2 to 16 models, the pair schedule, system prompt, parameters,
rubric, and when the raters see the names (the reveal policy).

The same session as ``mhbench session new``: two models chosen in the first two fields
make a classic A/B session; ticking more in the list (Space) makes a tournament of up to
sixteen, whose pairs the schedule draws (round-robin, or adaptive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select, SelectionList, Static

from core.arena.sessions import ITEM_REVEAL_WARNING
from tui.widgets.chat_pane import safe_text

if TYPE_CHECKING:
    from core.models import ModelEntry
    from core.models.client import GenerationParams

MAX_MODELS = 16
DEFAULT_SYSTEM = "你是一名温和、专业的心理咨询师。请用共情、尊重的方式回应来访者，必要时提供安全资源。"
REVEAL_CHOICES = (
    ("when the rater has rated every item", "end"),
    ("after each item (answers recur: raters learn them)", "item"),
    ("never in the Arena (Results shows them)", "never"),
)
PARAMETERS = (
    # (input id, label, default)
    ("temperature", "Temperature", "0.7"),
    ("top_p", "Top-p", "0.8"),
    ("repetition_penalty", "Repetition penalty", "1.05"),
    ("max_tokens", "Max tokens", "512"),
    ("seed", "Seed", "1234"),
)


@dataclass(frozen=True)
class SessionRequest:
    rater: str
    prompts: str
    models: tuple[str, ...]
    """2 to 16 catalog ids; the schedule draws each item's pair from them."""
    schedule: str
    system_prompt: str | None
    params: GenerationParams
    rubric: str
    blind: bool
    pregenerate: bool
    reveal: str = "end"
    """When a blind session's raters see the names: ``end``, ``item`` or ``never``."""


class ArenaSetup(ModalScreen["SessionRequest | None"]):
    """Ctrl+S starts rating (answers stream live); Ctrl+G also pre-generates every answer in the background."""

    DEFAULT_CSS = """
    ArenaSetup #more_models, ArenaSetup #more_label { row-span: 3; }
    ArenaSetup #more_models { height: 9; }
    """

    AUTO_FOCUS = "#rater"
    """The first field: without it the scroll container took the focus and typed text was lost."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="setup.cancel"),
        Binding("ctrl+s", "start(False)", "Start", id="setup.start", priority=True),
        Binding("ctrl+g", "start(True)", "Start + pre-generate", id="setup.pregenerate", priority=True),
    ]

    def __init__(self, rater: str | None) -> None:
        super().__init__()
        self.rater = rater

    def compose(self) -> ComposeResult:
        with Vertical(id="launch-box"):
            yield Static("New arena session — Tab moves, Ctrl+S starts, Ctrl+G starts and pre-generates, Esc cancels",
                         classes="section-title", markup=False)
            with VerticalScroll(), Grid(id="launch-grid"):
                yield Label("Rater id")
                yield Input(self.rater or "", id="rater", placeholder="e.g. r1")
                yield Label("Prompt set")
                yield Input("demo", id="prompts", placeholder="demo, or a JSONL/CSV file")
                yield Label("Model 1")
                yield Select[str]([], id="model_a", prompt="loading the catalog…")
                yield Label("Model 2")
                yield Select[str]([], id="model_b", prompt="loading the catalog…")
                yield Label("More models\n(Space ticks)", id="more_label")
                yield SelectionList[str](id="more_models")
                yield Label("Pair schedule")
                yield Select[str]([("round-robin: every pair, balanced", "round-robin"),
                                   ("adaptive: the most informative pair next", "adaptive")],
                                  id="schedule", value="round-robin", allow_blank=False)
                yield Label("System prompt")
                yield Input(DEFAULT_SYSTEM, id="system")
                for field_id, label, default in PARAMETERS:
                    yield Label(label)
                    yield Input(default, id=field_id)
                yield Label("Rubric")
                yield Select[str]([("empathy + professionalism", "default"),
                                   ("empathy + professionalism, safety on crisis items only", "default-crisis-only"),
                                   ("CPsyCoun", "cpsycoun")],
                                  id="rubric", value="default", allow_blank=False)
                yield Label("Blind")
                yield Checkbox("hide the model names from the raters", True, id="blind")
                yield Label("Reveal names")
                yield Select[str](REVEAL_CHOICES, id="reveal", value="end", allow_blank=False)
            yield Static("", id="reveal-warning", markup=False)
            yield Static("", id="launch-error", markup=False)

    def on_mount(self) -> None:
        self.load_models()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "reveal":
            warning = f"⚠ {ITEM_REVEAL_WARNING}" if event.value == "item" else ""
            self.query_one("#reveal-warning", Static).update(safe_text(warning, "bold yellow"))

    @work(thread=True)
    def load_models(self) -> None:
        from core.models import discover, list_models

        workspace = self.app.workspace  # type: ignore[attr-defined]
        # A new workspace's models are on disk but not yet in the catalog until something scans
        # (the Models mode does on its first visit): scan here too, or the form offers nothing.
        discover(workspace)
        entries = [e for e in list_models(workspace) if not e.missing]
        self.app.call_from_thread(self.show_models, entries)

    def show_models(self, entries: list[ModelEntry]) -> None:
        # What serves fastest first: GGUF on llama.cpp, then endpoints, merged models, adapters, bases.
        order = {"gguf": 0, "endpoint": 1, "merged": 2, "adapter": 3, "base": 4}
        chat_ready = sorted(entries, key=lambda e: (order.get(e.kind, 9), e.id))
        options = [(f"{e.id} ({e.kind})", e.id) for e in chat_ready]
        for select_id, index in (("#model_a", 0), ("#model_b", 1)):
            select = self.query_one(select_id, Select)
            select.prompt = "choose a model" if options else "no model in the catalog"
            select.set_options(options)
            if len(options) > index:
                select.value = options[index][1]
        more = self.query_one("#more_models", SelectionList)
        more.clear_options()
        more.add_options(options)
        if len(options) < 2:
            self.query_one("#launch-error", Static).update(safe_text(
                f"✗ the catalog has {len(options)} model(s) and a session needs two: add them in Models (F4: "
                "a adds a folder or GGUF, r rescans runs/ and models/), or `mhbench models --add PATH`.", "red"))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_start(self, pregenerate: bool) -> None:
        from core.models.client import GenerationParams

        error = self.query_one("#launch-error", Static)
        values = {field_id: self.query_one(f"#{field_id}", Input).value.strip() for field_id, _, _ in PARAMETERS}
        try:
            params = GenerationParams(
                temperature=float(values["temperature"]), top_p=float(values["top_p"]),
                repetition_penalty=float(values["repetition_penalty"]), max_tokens=int(values["max_tokens"]),
                seed=int(values["seed"]))
        except ValueError as problem:
            error.update(safe_text(f"✗ a parameter is not a number: {problem}", "red"))
            return
        model_a = self.query_one("#model_a", Select).value
        model_b = self.query_one("#model_b", Select).value
        rater = self.query_one("#rater", Input).value.strip()
        if not rater:
            error.update(safe_text("✗ give your rater id (it is remembered)", "red"))
            return
        if not isinstance(model_a, str) or not isinstance(model_b, str) or model_a == model_b:
            error.update(safe_text("✗ pick two different models", "red"))
            return
        more = [m for m in self.query_one("#more_models", SelectionList).selected if m not in (model_a, model_b)]
        models = (model_a, model_b, *more)
        if len(models) > MAX_MODELS:
            error.update(safe_text(f"✗ {len(models)} models: a session compares at most {MAX_MODELS}", "red"))
            return
        rubric = self.query_one("#rubric", Select).value
        self.dismiss(SessionRequest(
            rater=rater, prompts=self.query_one("#prompts", Input).value.strip() or "demo", models=models,
            schedule=str(self.query_one("#schedule", Select).value),
            system_prompt=self.query_one("#system", Input).value.strip() or None, params=params,
            rubric=str(rubric), blind=self.query_one("#blind", Checkbox).value, pregenerate=pregenerate,
            reveal=str(self.query_one("#reveal", Select).value)))
