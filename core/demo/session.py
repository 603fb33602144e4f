"""The demo's ready A/B session: the demo base model against the demo run's fine-tuned adapter.

After the newcomer's first demo run finishes, one call registers the run's checkpoints in
the catalog and creates an Arena session on the demo prompt set with the two catalog
models, exactly as the Arena's setup form does. The Arena serves each side on demand
(``swift deploy`` with the adapter on its base), or a detached pre-generation job fills
every answer first.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.arena.contamination import record_session_check
from core.arena.pregenerate import start_pregeneration
from core.arena.prompts import register_prompt_set
from core.arena.ratings import remember_rater
from core.arena.sessions import Session, create_session
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.demo import DEMO_LEARNER
from core.demo.learning import DEMO_SYSTEM
from core.models import list_models
from core.models.discovery import discover
from core.train.runs import RunRecord, get_run, list_runs

DEMO_SESSION_NAME = "demo: base vs fine-tuned"


@dataclass(frozen=True)
class DemoSession:
    """The session made, the run it compares, and the two catalog models on its sides."""

    session: Session
    run: RunRecord
    base_id: str
    tuned_id: str


def finished_demo_run(workspace: Workspace, run_ref: str | None = None) -> RunRecord:
    """``run_ref``, or the newest finished demo run that saved a checkpoint (the learning demo's first)."""

    if run_ref is not None:
        run = get_run(workspace, run_ref)
        if run.status != "finished" or not run.last_checkpoint:
            raise MhbenchError(f"run {run.id} is {run.status} with no final checkpoint.",
                               fix="pick a finished run (`mhbench runs`), or wait for this one to end.")
        return run
    finished = [run for run in list_runs(workspace)  # newest first
                if run.profile.startswith("demo-") and run.status == "finished" and run.last_checkpoint]
    if finished:
        learned = [run for run in finished if run.profile == DEMO_LEARNER]
        return (learned or finished)[0]
    raise MhbenchError("no demo run has finished yet.",
                       fix="train one first: `mhbench demo --train`, or `n` in the Train mode (F3) on a demo profile.")


def create_demo_session(
    workspace: Workspace, run_ref: str | None = None, *, rater: str | None = None, pregenerate: bool = False
) -> DemoSession:
    """A two-model session, base vs the run's last checkpoint, on the demo prompt set."""

    run = finished_demo_run(workspace, run_ref)
    discover(workspace)
    last = str(run.last_checkpoint)
    adapters = [entry for entry in list_models(workspace, "adapter")
                if entry.run_id == run.id and entry.path is not None and str(entry.path) == last]
    if not adapters or adapters[0].base_id is None:
        raise MhbenchError(f"the last checkpoint of run {run.id} is not in the catalog as an adapter of a known base.",
                           path=last, fix="rescan the models (`r` in the Models mode) and check its adapter_config.json.")
    tuned = adapters[0]
    created_by = remember_rater(workspace, rater) if rater else None
    prompt_set = register_prompt_set(workspace)
    session = create_session(workspace, prompt_set.id, str(tuned.base_id), tuned.id, system_prompt=DEMO_SYSTEM,
                             created_by=created_by, name=DEMO_SESSION_NAME)
    # Recorded like any session's; the demo prompts are not in the demo dialogues, so it finds nothing.
    record_session_check(workspace, session.id)
    if pregenerate:
        start_pregeneration(workspace, session.id)
    return DemoSession(session, run, str(tuned.base_id), tuned.id)
