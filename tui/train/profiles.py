"""Profiles mode: the list with validation status, every parameter, VRAM against the GPUs, the dry run."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static

from tui.messages import FlagCheckDone, GpusSampled, ProfilesLoaded
from tui.modes import mode_title

if TYPE_CHECKING:
    from core.profiles import Profile, ProfileEntry


class ProfilesScreen(Screen[None]):
    """Pick a profile and read everything about it before training."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload", id="profiles.reload"),
        Binding("c", "check", "Check cmd", id="profiles.check"),
        Binding("y", "copy_command", "Copy cmd", id="profiles.copy"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[ProfileEntry] = []
        self.gpu_summary = "reading GPUs…"
        self.gpu_free_gb: float | None = None
        self.command_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Horizontal(OptionList(id="profile-list"), id="profile-body")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = mode_title("Profiles")
        # The detail pane (a DataTable, a heavy import) and the workers' imports (pydantic,
        # NVML) wait until the first frame has reached the terminal: run right after the
        # refresh, they hold the GIL while the driver's thread is still writing it.
        self.set_timer(0.15, self.mount_detail)

    def mount_detail(self) -> None:
        from textual.containers import VerticalScroll
        from textual.widgets import DataTable

        self.query_one("#profile-body", Horizontal).mount(
            VerticalScroll(
                Static("loading profiles…", id="profile-status", markup=False),
                Static("", id="profile-vram", markup=False),
                DataTable(id="profile-params", cursor_type="row", zebra_stripes=True),
                Static("Dry-run command", classes="section-title"),
                Static("", id="profile-command", markup=False),
                id="profile-detail",
            )
        )
        self.action_reload()

    # --- workers: files, NVML and swift are read off the event loop ---------------------------

    @work(thread=True, exclusive=True, group="profiles")
    def load_profiles(self) -> None:
        from core.profiles import load_profiles

        entries = load_profiles(self.app.workspace.profiles_dir)  # type: ignore[attr-defined]
        self.post_message(ProfilesLoaded(entries))

    @work(thread=True, exclusive=True, group="gpus")
    def sample_gpus(self) -> None:
        from core.base.gpu import sample_gpus

        self.post_message(GpusSampled(sample_gpus()))

    @work(thread=True, exclusive=True, group="check")
    def check_flags(self, profile: Profile) -> None:
        from core.base.errors import MhbenchError
        from core.swift.dialects import installed_swift_version
        from core.train.launch import LaunchRequest, plan_run

        try:
            # The same plan as the dry-run text and a launch with the form left blank.
            plan_run(self.app.workspace, LaunchRequest(profile=profile), dry_run=True)  # type: ignore[attr-defined]
            message = f"✓ every flag is accepted by the installed ms-swift {installed_swift_version()}"
            ok = True
        except MhbenchError as error:
            message, ok = f"✗ {error}", False
        self.post_message(FlagCheckDone(profile.name, message, ok))

    # --- messages ----------------------------------------------------------------------------

    def on_profiles_loaded(self, message: ProfilesLoaded) -> None:
        self.entries = list(message.entries)
        view = self.query_one("#profile-list", OptionList)
        previous = view.highlighted
        view.clear_options()
        for entry in self.entries:
            mark = Text("✓ ", style="green") if entry.ok else Text("✗ ", style="red")
            label = Text.assemble(mark, Text(entry.name))
            if entry.origin == "workspace":
                label.append(" (ws)", style="dim")
            view.add_option(label)
        if self.entries:
            view.highlighted = previous if previous is not None and previous < len(self.entries) else 0
            self.show_entry(self.entries[view.highlighted or 0])
        else:
            self.query_one("#profile-status", Static).update("No profiles found.")

    def on_gpus_sampled(self, message: GpusSampled) -> None:
        report = message.report
        self.gpu_summary = report.summary()
        self.gpu_free_gb = sum(gpu.free_gb for gpu in report.gpus) if report.available else None
        entry = self.selected_entry()
        if entry is not None:
            self.show_entry(entry)

    def on_flag_check_done(self, message: FlagCheckDone) -> None:
        entry = self.selected_entry()
        if entry is not None and entry.name == message.profile_name:
            status = self.query_one("#profile-status", Static)
            status.update(Text(message.text, style="green" if message.ok else "red"))
            # The verdict goes on top of the pane; the reader may be scrolled down to the command.
            status.scroll_visible(animate=False)
        self.notify(message.text, title=f"Check cmd: {message.profile_name}",
                    severity="information" if message.ok else "error", timeout=8 if message.ok else 15)

    def on_resize(self) -> None:
        entry = self.selected_entry() if self.entries else None
        if entry is not None:
            # The parameter columns are fitted to the pane: fit them again once it has its size.
            self.call_after_refresh(self.show_entry, entry)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self.show_entry(entry)

    # --- rendering ---------------------------------------------------------------------------

    def selected_entry(self) -> ProfileEntry | None:
        index = self.query_one("#profile-list", OptionList).highlighted
        if index is None or not 0 <= index < len(self.entries):
            return None
        return self.entries[index]

    def show_entry(self, entry: ProfileEntry) -> None:
        from textual.widgets import DataTable

        status = self.query_one("#profile-status", Static)
        table: DataTable[object] = self.query_one("#profile-params", DataTable)
        table.clear(columns=True)
        if entry.profile is None:
            status.update(Text(f"✗ invalid: {entry.error}", style="red"))
            self.query_one("#profile-vram", Static).update("")
            self.query_one("#profile-command", Static).update("")
            self.command_text = ""
            return
        profile = entry.profile
        header = Text.assemble(Text(profile.title, style="bold"), f"  ({entry.origin}: {entry.path})")
        for note in profile.notes:
            header.append(f"\n• {note}", style="yellow")
        status.update(header)
        self.query_one("#profile-vram", Static).update(self.vram_text(profile))
        rows = flatten(profile.model_dump(mode="json", exclude_none=True))
        # Measured on the pane, less both scrollbars: the pane and the table (max-height) scroll
        # once filled, after this measure, and a scrollbar drawn later would cover the values' ends.
        pane = self.query_one("#profile-detail")
        room = pane.content_region.width - pane.styles.scrollbar_size_vertical - table.styles.scrollbar_size_vertical
        key_width, value_width = param_widths(rows, room, table.cell_padding)
        table.add_column("key", width=key_width)
        table.add_column("value", width=value_width)
        for key, value in rows:
            # Wrapped, not cut: a path or a list is read whole even in an 80-column terminal.
            table.add_row(Text(key), Text(value), height=None if value_width else 1)
        self.query_one("#profile-command", Static).update(self.dry_run_text(profile))

    def vram_text(self, profile: Profile) -> Text:
        resources = profile.resources
        text = Text("Expected: ")
        text.append(f"train {resources.train_vram_gb or '?'} GB, infer {resources.infer_vram_gb or '?'} GB")
        if resources.hours_per_epoch:
            text.append(f", {resources.hours_per_epoch} h/epoch")
        text.append(f" on {resources.reference_gpu}\nGPUs here: {self.gpu_summary}")
        need = resources.train_vram_gb.high if resources.train_vram_gb else None
        if need is not None and self.gpu_free_gb is not None:
            fits = self.gpu_free_gb >= need
            text.append(
                f"\n{'fits' if fits else 'does not fit'}: {self.gpu_free_gb:.1f} GB free vs {need:g} GB needed",
                style="green" if fits else "red",
            )
        return text

    def dry_run_text(self, profile: Profile) -> Text:
        """What a launch of this profile with the form left blank runs, as core plans it (unchecked here)."""
        from core.base.errors import MhbenchError
        from core.swift.dialects import installed_swift_version
        from core.train.launch import LaunchRequest, plan_run

        try:
            plan = plan_run(self.app.workspace, LaunchRequest(profile=profile), check=False, dry_run=True)  # type: ignore[attr-defined]
        except MhbenchError as error:
            self.command_text = ""
            return Text(f"✗ {error}", style="red")
        command = plan.command
        self.command_text = command.shell()
        version = installed_swift_version()
        text = Text(f"ms-swift {version or 'not installed'} ({command.dialect.label} dialect)\n", style="dim")
        for note in command.notes:
            text.append(f"# {note}\n", style="yellow")
        text.append(command.shell_text(flag_per_line=True))
        return text

    # --- actions -----------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.load_profiles()
        self.sample_gpus()

    def action_check(self) -> None:
        entry = self.selected_entry()
        if entry is None or entry.profile is None:
            self.notify("Choose a valid profile first.", severity="warning")
            return
        status = self.query_one("#profile-status", Static)
        status.update("checking every flag against the installed ms-swift…")
        status.scroll_visible(animate=False)
        self.check_flags(entry.profile)

    def action_copy_command(self) -> None:
        if self.command_text:
            self.app.copy_to_clipboard(self.command_text)
            self.notify("Dry-run command copied (OSC 52 clipboard).")


MIN_VALUE_WIDTH = 16


def param_widths(rows: list[tuple[str, str]], room: int, cell_padding: int) -> tuple[int | None, int | None]:
    """Widths of the key and value columns in ``room`` cells; ``(None, None)`` (fit to content) before a size.

    Keys get at most two fifths (a longer one wraps), values the rest, wrapped: both are read
    whole in an 80-column terminal, where a fitted key column left values 11 cells.
    """
    if room <= 0 or not rows:
        return None, None
    pad = 2 * cell_padding
    key = min(max(len(key) for key, _ in rows), max(room * 2 // 5, 12))
    return key, max(room - 2 * pad - key, MIN_VALUE_WIDTH)


def flatten(data: dict[str, object], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and set(value) != {"low", "high"}:
            rows.extend(flatten(value, f"{name}."))
        elif isinstance(value, dict):
            rows.append((name, f"{value['low']:g}–{value['high']:g}"))
        elif isinstance(value, list):
            rows.append((name, ", ".join(str(item) for item in value)))
        else:
            rows.append((name, str(value)))
    return rows
