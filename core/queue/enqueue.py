"""Adding runs to the queue: every profile and step checked before anything is queued, then the runner woken."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.base.db import open_workspace
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.profiles import find_profile, load_profiles
from core.queue.steps import check_step_values
from core.train.run_queue import QueueEntry, add_entries, ensure_runner, parse_steps


def queue_runs(
    workspace: Workspace,
    profiles: Sequence[str],
    *,
    datasets: Sequence[str] = (),
    overrides: Sequence[str] = (),
    gpus: str | None = None,
    then: str | None = None,
    name: str | None = None,
) -> tuple[list[QueueEntry], str | None]:
    """Queue one run per profile, in order; returns the entries and the id of a runner started for them.

    A profile that is not there or a step that is not known refuses the whole command, so a
    typo never leaves half a night queued. Dataset files are made absolute here, because the
    runner works in its own folder.
    """
    if name is not None and len(profiles) > 1:
        raise MhbenchError("--name names one run, and this queues several.",
                           fix="drop --name (each run is named after its profile), or queue them one by one.")
    steps = parse_steps(then)
    check_step_values(steps)
    known = load_profiles(workspace.profiles_dir)
    names = [find_profile(known, profile).name for profile in profiles]
    files = [str(Path(d).expanduser().resolve()) if Path(d).expanduser().exists() else d for d in datasets]
    open_workspace(workspace)
    entries = add_entries(workspace, names, datasets=files, overrides=overrides, gpus=gpus, steps=steps, name=name)
    return entries, ensure_runner(workspace)
