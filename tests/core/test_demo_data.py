"""The demo's happy path: every demo profile's dataset fits its max_length, so a launch warns of nothing."""

from __future__ import annotations

from pathlib import Path

from core.demo import DEMO_LEARNER, DEMO_LLAMA, DEMO_MAX_LENGTH, DEMO_QWEN, read_jsonl
from core.profiles import find_profile, load_profiles
from core.train.datasets.check import check_profile_datasets


def test_no_demo_profile_warns_of_samples_past_max_length(demo) -> None:
    profiles = load_profiles(demo.workspace.profiles_dir)
    for name in (DEMO_LEARNER, DEMO_QWEN, DEMO_LLAMA):
        (report,) = check_profile_datasets(find_profile(profiles, name), convert_dir=None)
        assert report.error is None and report.lengths is not None, (name, report.notes)
        assert report.lengths.max_length == DEMO_MAX_LENGTH
        assert report.lengths.over_max_length == 0, (name, report.notes)
        assert not any("exceed max_length" in note for note in report.notes), (name, report.notes)


def test_the_learning_demo_trains_on_the_dialogues_swift_would_keep(demo) -> None:
    learner = find_profile(load_profiles(demo.workspace.profiles_dir), DEMO_LEARNER)
    (dataset,) = learner.train.dataset
    kept, every = read_jsonl(Path(dataset)), read_jsonl(demo.dataset)
    left_out = [record for record in every if record not in kept]
    assert len(left_out) == 5 and len(kept) == len(every) - 5
    # The long multi-turn ones: three bytes a Chinese character in the learner's 320-piece vocabulary.
    assert all(len(record["conversations"]) >= 7 for record in left_out)  # type: ignore[arg-type]
