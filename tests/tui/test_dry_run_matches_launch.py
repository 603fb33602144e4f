"""A dry run shows exactly what a launch executes: the argv and env the supervisor reads from the run's folder.

Every shipped profile, plain and with DeepSpeed, a resume checkpoint, two GPUs with two
processes and QLoRA; compared through the CLI's ``--dry-run --json`` and its text, the
Profiles pane, and the Train mode's confirm step. The only difference allowed is the run
id, which a dry run cannot know (it prints ``<run-id>``).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import OptionList, Static

from core.base.db import open_workspace
from core.base.workspace import Workspace
from core.profiles import find_profile, load_profiles
from core.swift.dialects import installed_swift_version
from core.train.launch import LaunchRequest, plan_run, write_run_spec
from core.train.runner import Supervisor
from tests.helpers.commands import cli, with_run_id
from tests.helpers.pilot import wait_until
from tui.app import MhbenchApp
from tui.cli import build_parser
from tui.cli.train import launch_request
from tui.train.launch import ConfirmLaunch
from tui.train.profiles import ProfilesScreen

SHIPPED = [entry.name for entry in load_profiles() if entry.origin == "shipped"]
HAS_SWIFT = installed_swift_version() is not None
# Without swift the flags cannot be checked; the commands must agree all the same.
CHECK = [] if HAS_SWIFT else ["--no-check"]


def variants(checkpoint: Path) -> dict[str, list[str]]:
    return {
        "plain": [],
        "deepspeed": ["--deepspeed", "zero3"],
        "resume": ["--resume-from", str(checkpoint)],
        "two-gpus": ["--gpus", "0,1", "--nproc", "2"],
        "qlora": ["--qlora"],
        "everything": ["--deepspeed", "zero2", "--resume-from", str(checkpoint), "--gpus", "0,1", "--nproc", "2",
                       "--qlora", "--set", "train.epochs=2", "--dataset", "data/a.jsonl", "--name", "all-of-it",
                       # data/a.jsonl is not there: a dry run now refuses it as the launch does, unless told not to.
                       "--no-dataset-check"],
    }


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return open_workspace(Workspace(tmp_path / "ws"))


@pytest.fixture()
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "earlier" / "output" / "checkpoint-4"
    path.mkdir(parents=True)
    return path


def executed(ws: Workspace, request: LaunchRequest) -> tuple[str, list[str], dict[str, str]]:
    """Plan the run as launch does and write its folder; return what the supervisor will run."""
    plan = plan_run(ws, request, check=HAS_SWIFT)
    write_run_spec(ws, plan)
    spec = Supervisor(plan.run_dir).spec
    stored = json.loads((plan.run_dir / "run.json").read_text(encoding="utf-8"))
    assert (stored["argv"], stored["env"]) == (spec["argv"], spec["env"])
    return plan.run_id, spec["argv"], spec["env"]


def parse_shell(text: str) -> tuple[list[str], dict[str, str]]:
    """A printed command as the shell would run it: leading ``KEY=value`` words are its environment."""
    words = shlex.split(text.replace("\\\n", " "))
    env: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    return words, env


def command_block(text: str) -> str:
    """The command in a pane's text: from its first line up to the line that does not continue."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"([A-Z_]+=|swift )", line))
    end = next(i for i in range(start, len(lines)) if not lines[i].endswith("\\"))
    return "\n".join(lines[start:end + 1])


@pytest.mark.parametrize("name", SHIPPED)
def test_cli_dry_run_is_what_the_supervisor_gets(
    name: str, ws: Workspace, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(SHIPPED) >= 4
    for label, options in variants(checkpoint).items():
        arguments = ["train", name, *options, *CHECK]
        shown = json.loads(cli(capsys, ws, *arguments, "--dry-run", "--json"))
        text_argv, text_env = parse_shell(_without_notes(cli(capsys, ws, *arguments, "--dry-run")))
        # The launch path of the same command line: its arguments become the request, planned for real.
        args = build_parser().parse_args(["--workspace", str(ws.root), *arguments])
        profile = find_profile(load_profiles(ws.profiles_dir), name)
        run_id, argv, env = executed(ws, launch_request(args, profile))
        assert with_run_id(shown["argv"], run_id) == argv, label
        assert shown["env"] == env, label
        assert (with_run_id(text_argv, run_id), text_env) == (argv, env), label
        check_settings(label, argv, env, checkpoint)


def _without_notes(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("# "))


def check_settings(label: str, argv: list[str], env: dict[str, str], checkpoint: Path) -> None:
    """The variant's own settings are in what runs (so the comparison above compared something)."""
    assert argv[:2] == ["swift", "sft"] and env["PYTHONUNBUFFERED"] == "1"
    if label in ("deepspeed", "everything"):
        assert argv[argv.index("--deepspeed") + 1] == ("zero3" if label == "deepspeed" else "zero2")
    if label in ("resume", "everything"):
        assert argv[argv.index("--resume_from_checkpoint") + 1] == str(checkpoint)
    if label in ("two-gpus", "everything"):
        assert env["CUDA_VISIBLE_DEVICES"] == "0,1" and env["NPROC_PER_NODE"] == "2"
    if label in ("qlora", "everything"):
        assert argv[argv.index("--quant_bits") + 1] == "4"
    if label == "plain":
        assert env == {"PYTHONUNBUFFERED": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
        assert not {"--deepspeed", "--resume_from_checkpoint"} & set(argv)


async def test_profiles_pane_shows_what_a_plain_launch_runs(ws: Workspace) -> None:
    app = MhbenchApp(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen) and app.screen.entries, 10,
                         "the profiles to load")
        screen = app.screen
        assert isinstance(screen, ProfilesScreen)
        names = [entry.name for entry in screen.entries]
        assert set(SHIPPED) <= set(names)
        for name in SHIPPED:
            screen.query_one(OptionList).highlighted = names.index(name)
            await wait_until(pilot, lambda name=name: getattr(screen.selected_entry(), "name", None) == name, 5,
                             f"the cursor on {name}")
            await pilot.pause()  # the highlight's handler redraws the command pane
            pane = str(screen.query_one("#profile-command", Static).render())
            shown_argv, shown_env = parse_shell(command_block(pane))
            copied_argv, copied_env = parse_shell(screen.command_text)
            profile = find_profile(load_profiles(ws.profiles_dir), name)
            run_id, argv, env = executed(ws, LaunchRequest(profile=profile))
            assert (with_run_id(shown_argv, run_id), shown_env) == (argv, env), name
            assert (with_run_id(copied_argv, run_id), copied_env) == (argv, env), name


async def test_confirm_step_shows_the_plan_it_hands_to_launch(demo, ws: Workspace) -> None:
    if not HAS_SWIFT:
        pytest.skip("the confirm step checks the flags against the installed ms-swift")
    # The demo profile (its files are only read); the app's own workspace takes what the step writes.
    profile = find_profile(load_profiles(demo.workspace.profiles_dir), "demo-tiny-qwen2")
    request = LaunchRequest(profile=profile, name="confirm", overrides=("train.max_steps=3",),
                            cuda_visible_devices="0,1", nproc_per_node=2, deepspeed="zero2", tuner="qlora")
    app = MhbenchApp(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        confirm = ConfirmLaunch(request)
        await app.push_screen(confirm)
        await wait_until(pilot, lambda: confirm.plan is not None, 120, "the checked plan",
                         detail=lambda: "the step shows: " + str(confirm.query_one("#confirm-body", Static).render()))
        plan: Any = confirm.plan
        assert plan is not None, str(confirm.query_one("#confirm-body", Static).render())
        body = str(confirm.query_one("#confirm-body", Static).render())
    argv, env = parse_shell(command_block(body))
    assert (argv, env) == (list(plan.command.argv), dict(plan.command.env))
    assert env["NPROC_PER_NODE"] == "2" and "--deepspeed" in argv and "--quant_method" in argv
    assert "--max_steps" in argv and argv[argv.index("--max_steps") + 1] == "3"
