"""Modals of the Train mode: the launch form, the confirm step, delete, and the compare plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Select, Static

from tui.train.loss_plot import LossPlot, Series

if TYPE_CHECKING:
    from core.profiles import Profile
    from core.train.launch import LaunchRequest, RunPlan
    from core.train.runs import RunRecord

FIELDS: tuple[tuple[str, str, str], ...] = (
    # (input id, label, profile key it overrides)
    ("dataset", "Dataset(s)", "train.dataset"),
    ("val_dataset", "Validation file(s)", "train.val_dataset"),
    ("split", "Validation split", "train.split_dataset_ratio"),
    ("epochs", "Epochs", "train.epochs"),
    ("max_steps", "Max steps", "train.max_steps"),
    ("max_length", "Max length", "train.max_length"),
    ("batch", "Batch size", "train.batch_size"),
    ("grad_accum", "Grad accum", "train.grad_accum"),
)


def form_overrides(values: dict[str, str], profile: Profile) -> list[str]:
    """Turn the form's text fields into ``section.key=value`` overrides; blank means the profile's value."""
    overrides = []
    for field_id, _, key in FIELDS:
        text = values.get(field_id, "").strip()
        if not text:
            continue
        if key in ("train.dataset", "train.val_dataset"):
            items = [item.strip() for item in text.split(",") if item.strip()]
            overrides.append(f"{key}={json.dumps(items, ensure_ascii=False)}")
        else:
            overrides.append(f"{key}={text}")
    return overrides


class LaunchForm(ModalScreen["LaunchRequest | None"]):
    """Pick a profile, then override what this run needs. Ctrl+S reviews the command."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="launch.cancel"),
        Binding("ctrl+s", "review", "Review", id="launch.review", priority=True),
        Binding("ctrl+d", "check_dataset", "Check dataset", id="launch.check_dataset", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.profiles: dict[str, Profile] = {}
        self.split_train_files: list[str] = []
        """The train files of the workspace's held-out splits (``mhbench dataset FILE --hold-out``), newest first."""

    def compose(self) -> ComposeResult:
        from core.train.distributed import DEEPSPEED_PRESETS

        with Vertical(id="launch-box"):
            yield Static("New training run — Tab moves, Ctrl+D checks the dataset, Ctrl+S reviews, Esc cancels",
                         classes="section-title", markup=False)
            with VerticalScroll(), Grid(id="launch-grid"):
                yield Label("Profile")
                yield Select[str]([], id="profile", prompt="loading…")
                for field_id, label, _ in FIELDS:
                    yield Label(label)
                    yield Input(id=field_id)
                yield Label("Adapter")
                yield Select[str]([("LoRA", "lora"), ("QLoRA (4-bit)", "qlora")], id="tuner", value="lora",
                                  allow_blank=False)
                yield Label("GPUs")
                yield Input(id="gpus", placeholder="all visible (e.g. 0,1)")
                yield Label("Processes/node")
                yield Input(id="nproc", placeholder="1", type="integer")
                yield Label("DeepSpeed")
                yield Select[str]([("none", "none"), *((preset, preset) for preset in DEEPSPEED_PRESETS)],
                                  id="deepspeed", value="none", allow_blank=False)
                yield Label("Nodes")
                yield Input(id="nnodes", placeholder="1 (this machine only)", type="integer")
                yield Label("Node rank")
                yield Input(id="node_rank", placeholder="0 = master", type="integer")
                yield Label("Master host:port")
                yield Input(id="master", placeholder="rank 0's address, e.g. 10.0.0.1:29500")
                yield Label("Run name")
                yield Input(id="name", placeholder="the profile name")
            yield Static("", id="launch-error", markup=False)

    def on_mount(self) -> None:
        self.load_profiles()

    @work(thread=True)
    def load_profiles(self) -> None:
        from core.profiles import load_profiles
        from core.train.datasets.holdout import train_files

        workspace = self.app.workspace  # type: ignore[attr-defined]
        entries = load_profiles(workspace.profiles_dir)
        profiles = {entry.name: entry.profile for entry in entries if entry.profile is not None}
        splits = [str(path) for _split, path in train_files(workspace)]
        self.app.call_from_thread(self.show_profiles, profiles, splits)

    def show_profiles(self, profiles: dict[str, Profile], split_train_files: Sequence[str] = ()) -> None:
        self.profiles = profiles
        self.split_train_files = list(split_train_files)
        if self.split_train_files:
            # Typing "/" (or any start of the path) offers the newest split's train file; → takes it.
            self.query_one("#dataset", Input).suggester = SuggestFromList(self.split_train_files, case_sensitive=True)
        select = self.query_one("#profile", Select)
        select.set_options([(name, name) for name in profiles])
        demo = next((name for name in profiles if name.startswith("demo-")), None)
        if demo or profiles:
            select.value = demo or next(iter(profiles))
        select.focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "profile" or not isinstance(event.value, str):
            return
        profile = self.profiles.get(event.value)
        if profile is None:
            return
        train = profile.train
        placeholders = {
            "dataset": ", ".join(train.dataset), "val_dataset": ", ".join(train.val_dataset) or "none",
            "split": str(train.split_dataset_ratio), "epochs": f"{train.epochs:g}",
            "max_steps": str(train.max_steps or "by epochs"), "max_length": str(train.max_length),
            "batch": str(train.batch_size), "grad_accum": str(train.grad_accum),
        }
        if self.split_train_files:
            placeholders["dataset"] += " · held-out split: type / then →"
        for field_id, text in placeholders.items():
            self.query_one(f"#{field_id}", Input).placeholder = text
        self.query_one("#tuner", Select).value = profile.lora.tuner

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_check_dataset(self) -> None:
        request = self.build_request()
        if request is not None:
            self.query_one("#launch-error", Static).update("checking the dataset…")
            self.check_dataset(request.effective_profile())

    @work(thread=True, exclusive=True, group="dataset-check")
    def check_dataset(self, profile: Profile) -> None:
        from core.base.errors import MhbenchError
        from core.train.datasets import check_profile_datasets

        try:
            reports = check_profile_datasets(profile, convert_dir=self.app.workspace.data_dir)  # type: ignore[attr-defined]
            text = Text("\n".join(report.summary() for report in reports),
                        style="green" if all(r.ok and not r.invalid for r in reports) else "yellow")
        except MhbenchError as error:
            text = Text(f"✗ {error}", style="red")
        self.app.call_from_thread(self.query_one("#launch-error", Static).update, text)

    def action_review(self) -> None:
        request = self.build_request()
        if request is not None:
            self.dismiss(request)

    def build_request(self) -> LaunchRequest | None:
        """The form as a launch request; core turns it into the command (see ConfirmLaunch)."""
        from core.base.errors import MhbenchError
        from core.train.distributed import DEEPSPEED_PRESETS, parse_host_port
        from core.train.launch import LaunchRequest, topology_of

        name = self.query_one("#profile", Select).value
        if not isinstance(name, str) or name not in self.profiles:
            self.query_one("#launch-error", Static).update(Text("Choose a profile first.", style="red"))
            return None
        profile = self.profiles[name]
        values = {field_id: self.query_one(f"#{field_id}", Input).value for field_id, _, _ in FIELDS}
        tuner = self.query_one("#tuner", Select).value
        nproc_text = self.query_one("#nproc", Input).value.strip()
        deepspeed = self.query_one("#deepspeed", Select).value
        nnodes_text = self.query_one("#nnodes", Input).value.strip()
        rank_text = self.query_one("#node_rank", Input).value.strip()
        try:
            master_addr, master_port = parse_host_port(self.query_one("#master", Input).value)
            request = LaunchRequest(
                profile=profile,
                name=self.query_one("#name", Input).value.strip() or None,
                overrides=tuple(form_overrides(values, profile)),
                override_source="the launch form",
                tuner=tuner if tuner in ("lora", "qlora") else None,
                cuda_visible_devices=self.query_one("#gpus", Input).value.strip() or None,
                nproc_per_node=int(nproc_text) if nproc_text else None,
                nnodes=int(nnodes_text) if nnodes_text else None,
                node_rank=int(rank_text) if rank_text else None,
                master_addr=master_addr,
                master_port=master_port,
                deepspeed=deepspeed if deepspeed in DEEPSPEED_PRESETS else None,
            )
            topology_of(request)  # a bad node setting is shown here too
            request.effective_profile()  # a bad field is shown here, in the form, not after it
        except (MhbenchError, ValueError) as error:
            self.query_one("#launch-error", Static).update(Text(f"✗ {error}", style="red"))
            return None
        return request


class ConfirmLaunch(ModalScreen["RunPlan | None"]):
    """The exact command, environment and dataset check, before anything starts."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "launch", "Launch", id="confirm.launch", priority=True),
        Binding("escape", "cancel", "Back", id="confirm.cancel"),
    ]

    def __init__(self, request: LaunchRequest) -> None:
        super().__init__()
        self.request = request
        self.plan: RunPlan | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static("Launch this run? Enter launches, Esc goes back", classes="section-title")
            with VerticalScroll():
                yield Static("checking the command against the installed ms-swift and the dataset…",
                             id="confirm-body", markup=False)

    def on_mount(self) -> None:
        self.prepare()

    @work(thread=True, exclusive=True)
    def prepare(self) -> None:
        from core.base.errors import MhbenchError
        from core.train.datasets import check_profile_datasets
        from core.train.launch import check_this_machine, plan_run

        workspace = self.app.workspace  # type: ignore[attr-defined]
        text = Text()
        try:
            plan = plan_run(workspace, self.request)
        except MhbenchError as error:
            self.app.call_from_thread(self.show, Text(f"✗ {error}", style="red"), None)
            return
        for note in plan.command.notes:
            text.append(f"# {note}\n", style="yellow")
        # The very plan that Enter hands to launch: this text is what the supervisor runs.
        text.append(plan.command.shell_text() + "\n\n")
        text.append(f"run folder: {plan.run_dir}\n", style="dim")
        try:
            check_this_machine(plan)
        except MhbenchError as error:
            text.append(f"✗ this machine: {error}\n", style="red")
        topology = plan.topology
        if topology.multi_node:
            others = ", ".join(str(rank) for rank in range(topology.nnodes) if rank != topology.node_rank)
            text.append(f"This is {topology.label}. Start node(s) {others} on their machines with the same "
                        "settings and their own node rank (`mhbench train … --node-rank R`; "
                        "`--dry-run` prints each node's command).\n", style="yellow")
        ok = True
        try:
            assert plan.effective_profile is not None
            for report in check_profile_datasets(plan.effective_profile, convert_dir=workspace.data_dir):
                text.append(report.summary() + "\n", style="green" if report.ok and not report.invalid else "yellow")
                ok = ok and report.ok
        except MhbenchError as error:
            text.append(f"✗ dataset: {error}\n", style="red")
            ok = False
        self.app.call_from_thread(self.show, text, plan if ok else None)

    def show(self, text: Text, plan: RunPlan | None) -> None:
        self.plan = plan
        if plan is None:
            text.append("\nThis run cannot start as it is: Esc to go back and change it.", style="red")
        self.query_one("#confirm-body", Static).update(text)

    def action_launch(self) -> None:
        if self.plan is not None:
            self.dismiss(self.plan)
        else:
            self.notify("Not ready to launch (see the message).", severity="warning")

    def action_cancel(self) -> None:
        self.dismiss(None)


class CompareScreen(ModalScreen[None]):
    """Loss curves of several runs on one plot (say, the three base models)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,o", "dismiss", "Close", id="compare.close")]

    def __init__(self, records: Sequence[RunRecord]) -> None:
        super().__init__()
        self.records = list(records)

    def compose(self) -> ComposeResult:
        with Vertical(id="compare-box"):
            yield LossPlot("train loss — compare", id="compare-plot")
            yield Static("Esc closes; Space marks runs in the list to choose them", classes="dim", markup=False)

    def on_mount(self) -> None:
        self.load()

    @work(thread=True)
    def load(self) -> None:
        from core.train.follow import read_curve

        series = [Series(record.name, read_curve(record).train_points) for record in self.records]
        self.app.call_from_thread(self.query_one("#compare-plot", LossPlot).show, series)
