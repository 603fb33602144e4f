"""Bad input a newcomer can act on: each case names the key, the line and the fix, and nothing is written or lost.

Profiles written flat or with swift's flag names, wrong types, negative values, several
faults in one file, bad ``--set`` overrides, missing and unwritable workspaces, and
empty, GBK, BOM, mixed and Dolly datasets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from core.base import workspace as workspace_module
from core.base.errors import MhbenchError, MhbenchFaults
from core.base.workspace import resolve
from core.profiles import SHIPPED_PROFILES_DIR, apply_overrides, find_profile, load_profiles
from core.train.datasets import check_dataset

MODEL = '[model]\nid = "org/tiny"\ntemplate = "qwen2_5"\n'
TRAIN = '[train]\ndataset = ["data.jsonl"]\n'


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: a case must leave this unchanged."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


class Expected(NamedTuple):
    line: int | None
    key: str
    problem: str
    fix: str


# --- profiles, one file each --------------------------------------------------------------------

PROFILE_CASES: dict[str, tuple[str, list[Expected]]] = {
    "flat negative learning_rate": (
        "learning_rate = -0.0002\n" + MODEL + TRAIN,
        [Expected(1, "learning_rate", "-0.0002 is negative", "under [train], write learning_rate = 0.0002 (and remove this line).")],
    ),
    "swift's batch size, as text": (
        'per_device_train_batch_size = "eight"\n' + MODEL + TRAIN,
        [Expected(1, "per_device_train_batch_size", "not the text 'eight'", "under [train], write batch_size = 1 (and remove this line).")],
    ),
    "typo of a joined name at the top": (
        "lora_rnak = 16\n" + MODEL + TRAIN,
        [Expected(1, "lora_rnak", "Did you mean '[lora] rank'?", "under [lora], write rank = 16 (and remove this line).")],
    ),
    "model as a string": (
        'model = "Qwen/Qwen2.5-7B-Instruct"\n' + TRAIN,
        [Expected(1, "model", "must be a table (a [model] section), not the text 'Qwen/Qwen2.5-7B-Instruct'",
                  'write [model] on its own line after the top-level keys, then id = "Qwen/Qwen2.5-7B-Instruct" and template = "qwen2_5".')],
    ),
    "swift's epochs": (
        "num_train_epochs = 3\n" + MODEL + TRAIN,
        [Expected(1, "num_train_epochs", "mhbench calls it epochs, in [train]", "under [train], write epochs = 3 (and remove this line).")],
    ),
    "swift's gradient accumulation": (
        "gradient_accumulation_steps = 4\n" + MODEL + TRAIN,
        [Expected(1, "gradient_accumulation_steps", "Did you mean '[train] grad_accum'?", "under [train], write grad_accum = 4 (and remove this line).")],
    ),
    "lora key in the train section": (
        MODEL + TRAIN + "lora_alpha = 64\n",
        [Expected(6, "train.lora_alpha", "Did you mean '[lora] alpha'?", "under [lora], write alpha = 64 (and remove this line).")],
    ),
    "flat key of a section written at the top": (
        "max_length = 4096\n" + MODEL + TRAIN,
        [Expected(1, "max_length", "belongs in the [train] section, not at the top level", "under [train], write max_length = 4096 (and remove this line).")],
    ),
    "top-level key written after a section header": (
        MODEL + 'description = "a tiny test"\n' + TRAIN,
        [Expected(4, "model.description", "belongs at the top level, before any [section], not in [model].",
                  'at the top, before any [section], write description = "a tiny test" (and remove this line).')],
    ),
    "typo inside a section": (
        MODEL + TRAIN + "learnig_rate = 1e-4\n",
        [Expected(6, "train.learnig_rate", "Did you mean 'learning_rate'?", "write learning_rate = 0.0001 instead.")],
    ),
    "wrong type inside a section": (
        MODEL + TRAIN + 'batch_size = "eight"\n',
        [Expected(6, "train.batch_size", "must be a whole number above 0, not the text 'eight'", "write batch_size = 1.")],
    ),
    "negative dropout": (
        MODEL + "[lora]\ndropout = -0.1\n" + TRAIN,
        [Expected(5, "lora.dropout", "must be at least 0, but -0.1 is negative. It takes a number at least 0 and below 1.", "write dropout = 0.1.")],
    ),
    "zero max_length": (
        MODEL + TRAIN + "max_length = 0\n",
        [Expected(6, "train.max_length", "must be greater than 0, not 0", "write max_length = 2048.")],
    ),
    "dataset as a string": (
        MODEL + '[train]\ndataset = "data.jsonl"\n',
        [Expected(5, "train.dataset", "must be a list of texts in quotes", 'write dataset = ["data.jsonl"].')],
    ),
    "unknown tuner": (
        MODEL + '[lora]\ntuner = "lorra"\n' + TRAIN,
        [Expected(5, "lora.tuner", 'must be one of "lora", "qlora", not the text \'lorra\'', 'write tuner = "lora".')],
    ),
    "inverted VRAM range": (
        MODEL + TRAIN + "[resources]\ntrain_vram_gb = [50, 45]\n",
        [Expected(7, "resources.train_vram_gb", "high (45.0) is below low (50.0)", "write train_vram_gb = [45, 50].")],
    ),
    "misspelt section": (
        MODEL + TRAIN + "[deploi]\nsession_len = 1024\n",
        [Expected(6, "deploi", "unknown section. Did you mean 'deploy'?", "rename [deploi] to [deploy].")],
    ),
    "swift flag without a key of its own": (
        'lr_scheduler_type = "cosine"\n' + MODEL + TRAIN,
        [Expected(1, "lr_scheduler_type", "mhbench passes swift flags like it through",
                  'under [train], write extra_args = {lr_scheduler_type = "cosine"} (and remove this line).')],
    ),
    "no train section": (
        MODEL,
        [Expected(None, "train", "a profile must have this section",
                  'write [train] on its own line after the top-level keys, then dataset = ["data.jsonl"].')],
    ),
    "missing template": (
        '[model]\nid = "org/tiny"\n' + TRAIN,
        [Expected(1, "model.template", "is missing; a profile must set it.", 'write template = "qwen2_5".')],
    ),
    "the same key flat and in its section": (
        "learning_rate = 2e-4\n" + MODEL + TRAIN + "learning_rate = 1e-4\n",
        [Expected(1, "learning_rate", "is also set as '[train] learning_rate'", "remove this line.")],
    ),
    "several faults in one file, swift style": (
        "# written the way swift's flags are spelt\n"
        'model = "Qwen/Qwen2.5-7B-Instruct"\n'
        "learning_rate = -0.0002\n"
        'per_device_train_batch_size = "eight"\n'
        "lora_rank = 16\n"
        "[train]\n"
        'dataset = ["data.jsonl"]\n'
        "epochs = -1\n",
        [
            Expected(2, "model", "must be a table", 'then id = "Qwen/Qwen2.5-7B-Instruct" and template = "qwen2_5".'),
            Expected(3, "learning_rate", "-0.0002 is negative", "under [train], write learning_rate = 0.0002 (and remove this line)."),
            Expected(4, "per_device_train_batch_size", "not the text 'eight'", "under [train], write batch_size = 1 (and remove this line)."),
            Expected(5, "lora_rank", "Did you mean '[lora] rank'?", "under [lora], write rank = 16 (and remove this line)."),
            Expected(8, "train.epochs", "must be greater than 0, but -1 is negative", "write epochs = 1."),
        ],
    ),
}


@pytest.mark.parametrize("case", list(PROFILE_CASES))
def test_bad_profile_names_every_fault(case: str, tmp_path: Path) -> None:
    text, expected = PROFILE_CASES[case]
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    before = _snapshot(tmp_path)

    entries = load_profiles(workspace_profiles=tmp_path)
    (entry,) = [entry for entry in entries if entry.name == "mine"]
    assert entry.profile is None and entry.error is not None
    faults = entry.error.faults
    assert [(f.line, f.key) for f in faults] == [(e.line, e.key) for e in expected], str(entry.error)
    for fault, want in zip(faults, expected, strict=True):
        assert fault.path == path
        assert want.problem in fault.problem, fault.one_line()
        assert fault.fix is not None and fault.fix.endswith(want.fix), fault.one_line()
        place = f"{path}:{want.line}: key '{want.key}': " if want.line else f"{path}: key '{want.key}': "
        assert place + fault.problem in str(entry.error)
    if len(expected) > 1:
        assert isinstance(entry.error, MhbenchFaults)
        assert str(entry.error).splitlines()[0] == f"{path}: {len(expected)} faults, one per line:"
    else:
        assert "\n" not in str(entry.error)
    assert _snapshot(tmp_path) == before
    assert all(entry.ok for entry in entries if entry.origin == "shipped")


# --- --set overrides --------------------------------------------------------------------------------

SET_CASES: dict[str, tuple[list[str], list[Expected]]] = {
    "negative bare learning_rate": (
        ["learning_rate=-1"],
        [Expected(None, "train.learning_rate", "-1 is negative", "write --set train.learning_rate=0.0001.")],
    ),
    "swift's name on the command line": (
        ["per_device_train_batch_size=8"],
        [Expected(None, "per_device_train_batch_size", "mhbench calls it train.batch_size", "write --set train.batch_size=8.")],
    ),
    "misspelt section": (
        ["trian.epochs=2"],
        [Expected(None, "trian", "Did you mean 'train'?", "write --set train.epochs=2.")],
    ),
    "zero rank": (["lora.rank=0"], [Expected(None, "lora.rank", "must be greater than 0, not 0", "write --set lora.rank=8.")]),
    "text for a number": (
        ["train.batch_size=eight"],
        [Expected(None, "train.batch_size", "not the text 'eight'", "write --set train.batch_size=1.")],
    ),
    "no equals sign": (["epochs"], [Expected(None, "", "has no '='", "write it as --set KEY=VALUE, e.g. train.epochs=2.")]),
    "two bad overrides at once": (
        ["lora.rank=0", "lora.dropout=2"],
        [
            Expected(None, "lora.rank", "not 0", "write --set lora.rank=8."),
            Expected(None, "lora.dropout", "must be below 1, not 2", "write --set lora.dropout=0.05."),
        ],
    ),
}


@pytest.mark.parametrize("case", list(SET_CASES))
def test_bad_set_names_the_override_not_the_file(case: str) -> None:
    overrides, expected = SET_CASES[case]
    shipped = _snapshot(SHIPPED_PROFILES_DIR)
    profile = find_profile(load_profiles(), "qwen2.5-7b-instruct")
    before = profile.model_dump()
    with pytest.raises(MhbenchError) as caught:
        apply_overrides(profile, overrides)
    faults = caught.value.faults
    assert [f.key or "" for f in faults] == [e.key for e in expected], str(caught.value)
    for fault, want, text in zip(faults, expected, overrides, strict=True):
        assert fault.path is None and fault.source == f"--set {text}"
        assert want.problem in fault.problem and fault.fix == want.fix, fault.one_line()
        assert str(fault).startswith(f"--set {text}: ")
    assert "file" not in str(caught.value)
    assert profile.model_dump() == before
    assert _snapshot(SHIPPED_PROFILES_DIR) == shipped


# --- workspaces -------------------------------------------------------------------------------------

COMMANDS = {
    "profiles": ["profiles"],
    "runs": ["runs"],
    "train dry-run": ["train", "qwen2.5-7b-instruct", "--dry-run", "--no-check"],
    "dataset": ["dataset", "data.jsonl"],
    "models": ["models"],
    "results": ["results"],
    "export": ["export", "ratings"],
    "stop": ["stop", "some-run"],
    "resume": ["resume", "some-run"],
    "merge": ["merge", "some-run"],
    "jobs": ["jobs"],
    "session list": ["session", "list"],
    "judge": ["judge", "some-session", "--model", "m"],
    "raters list": ["raters", "list"],
    "rate": ["rate"],
    "web": ["web"],
    "the TUI": [],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_mistyped_workspace_is_named_as_missing(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    missing = tmp_path / "wrokspace"
    assert main(["--workspace", str(missing), *COMMANDS[command]]) == 2
    message = capsys.readouterr().err.strip()
    assert message == (
        f"mhbench: error: {missing}: does not exist (named by --workspace). Fix: check --workspace for a typo; "
        f"to start a workspace there, run `mhbench demo {missing}` (tiny demo models and data) "
        f"or `mkdir -p {missing}` (an empty one)."
    )
    assert list(tmp_path.iterdir()) == []


def test_mhbench_home_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MHBENCH_HOME", str(tmp_path / "typo"))
    with pytest.raises(MhbenchError) as caught:
        resolve(must_exist=True)
    assert caught.value.path == tmp_path / "typo" and "named by MHBENCH_HOME" in caught.value.problem
    assert caught.value.fix is not None and f"mhbench demo {tmp_path / 'typo'}" in caught.value.fix
    assert resolve().root == tmp_path / "typo"  # resolving alone checks and creates nothing
    assert list(tmp_path.iterdir()) == []


def test_a_file_named_as_workspace(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("keep me", encoding="utf-8")
    with pytest.raises(MhbenchError, match="is a file, not a workspace folder") as caught:
        resolve(file, must_exist=True)
    assert caught.value.path == file and file.read_text(encoding="utf-8") == "keep me"


def test_an_unwritable_workspace_says_so_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """os.access decides, as it does for a non-root user; CI runs as root, where chmod would not stop a write."""
    from tui.cli import main

    root = tmp_path / "ws"
    (root / "runs").mkdir(parents=True)
    real = workspace_module.os.access
    monkeypatch.setattr(workspace_module.os, "access", lambda path, mode: real(path, mode) and Path(path) != root / "runs")
    before = _snapshot(root)
    assert main(["--workspace", str(root), "runs"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"mhbench: error: {root / 'runs'}: is not writable, and mhbench writes its database, runs and exports "
        f"in the workspace. Fix: make it writable (chmod u+w {root / 'runs'}) or choose another folder with --workspace."
    )
    assert _snapshot(root) == before and not (root / "mhbench.db").exists()


# --- datasets ---------------------------------------------------------------------------------------

MESSAGES = {"messages": [{"role": "user", "content": "我睡不着。"}, {"role": "assistant", "content": "能说说吗？"}]}
DOLLY = {"instruction": "回应来访者", "context": "工作压力大", "response": "你辛苦了。"}
LINE = json.dumps(MESSAGES, ensure_ascii=False) + "\n"

DATASET_CASES: dict[str, tuple[bytes, str, str]] = {
    "empty file": (b"", "NOT USABLE: is empty: it holds no record.", "add one JSON object per line"),
    "blank lines only": (b"\n  \n", "NOT USABLE: is empty: it holds no record.", "add one JSON object per line"),
    "GBK": (LINE.encode("gbk"), ":1: NOT USABLE: is not UTF-8 (byte 0x", "iconv -f GB18030 -t UTF-8 data.jsonl > data.utf8.jsonl"),
    "UTF-8 head, GBK tail": (
        LINE.encode("utf-8") + LINE.encode("gbk"),
        ":2: NOT USABLE: mixes encodings: UTF-8 before line 2",
        "tail -n +2 data.jsonl | iconv -f GB18030 -t UTF-8",
    ),
    "BOM is read, not refused": (b"\xef\xbb\xbf" + LINE.encode("utf-8"), ": OK: messages layout, utf-8-sig, 1 good sample(s)", ""),
    "one invalid line": (
        (LINE + "{broken\n" + LINE).encode("utf-8"),
        ": USABLE WITH 1 INVALID LINE: messages layout",
        "data.jsonl:2: not valid JSON",
    ),
    "no valid line": (b"{broken\n[1]\n", ": NOT USABLE: has no record in a layout swift reads.", "data.jsonl:2: line is a JSON list"),
    "Dolly": (
        (json.dumps(DOLLY, ensure_ascii=False) + "\n").encode("utf-8"),
        ": OK: dolly layout",
        "convert it to messages first: mhbench dataset {path} --convert (it writes data/data.swift-messages.jsonl",
    ),
}


@pytest.mark.parametrize("case", list(DATASET_CASES))
def test_bad_dataset_summary(case: str, tmp_path: Path) -> None:
    data, status, fix = DATASET_CASES[case]
    path = tmp_path / "data.jsonl"
    path.write_bytes(data)
    report = check_dataset(path)
    summary = report.summary()
    assert summary.startswith(str(path)) and status in summary.splitlines()[0], summary
    assert fix.format(path=path) in summary, summary
    assert report.clean == status.startswith(": OK")
    assert path.read_bytes() == data and sorted(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(("flags", "code"), [((), 1), (("--allow-invalid",), 0)])
def test_invalid_lines_fail_the_dataset_command_unless_allowed(
    flags: tuple[str, ...], code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.cli import main

    path = tmp_path / "data.jsonl"
    path.write_text(LINE + "{broken\n", encoding="utf-8")
    (tmp_path / "ws").mkdir()
    assert main(["--workspace", str(tmp_path / "ws"), "dataset", str(path), *flags]) == code
    out, err = capsys.readouterr()
    assert f"{path}: USABLE WITH 1 INVALID LINE:" in out
    assert ("pass --allow-invalid to train on the rest" in err) == (code == 1)
    assert path.read_text(encoding="utf-8") == LINE + "{broken\n"


# --- numbers and ports ------------------------------------------------------------------------------

OUT_OF_RANGE = {
    "train --nproc 0": (["train", "p", "--nproc", "0"], "argument --nproc: must be at least 1, not 0"),
    "train --nnodes -1": (["train", "p", "--nnodes", "-1"], "argument --nnodes: must be at least 1, not -1"),
    "train --node-rank -1": (["train", "p", "--node-rank", "-1"], "argument --node-rank: must be at least 0, not -1"),
    "train --master-port 70000": (["train", "p", "--master-port", "70000"],
                                  "argument --master-port: must be from 1 to 65535, not 70000"),
    "train --master-port x": (["train", "p", "--master-port", "x"], "argument --master-port: 'x' is not a whole number"),
    "stop --timeout nan": (["stop", "r", "--timeout", "nan"], "argument --timeout: must be at least 0.0, not nan"),
    "serve --gpu-memory 1.5": (["serve", "m", "--gpu-memory", "1.5"],
                               "argument --gpu-memory: must be above 0.0 and at most 1.0, not 1.5"),
    "serve --tensor-parallel 0": (["serve", "m", "--tensor-parallel", "0"], "argument --tensor-parallel: must be at least 1"),
    "serve --n-gpu-layers -2": (["serve", "m", "--n-gpu-layers", "-2"], "argument --n-gpu-layers: must be at least -1"),
    "chat --top-p 0": (["chat", "m", "hi", "--top-p", "0"], "argument --top-p: must be above 0.0 and at most 1.0, not 0"),
    "chat --temperature -1": (["chat", "m", "hi", "--temperature", "-1"], "argument --temperature: must be at least 0.0"),
    "chat --max-tokens 0": (["chat", "m", "hi", "--max-tokens", "0"], "argument --max-tokens: must be at least 1, not 0"),
    "session new --seed -5": (["session", "new", "--models", "a,b", "--seed", "-5"],
                              "argument --seed: must be from 0 to 4294967295, not -5"),
    "session new --side-seed 2**70": (["session", "new", "--models", "a,b", "--side-seed", str(2**70)],
                                      "argument --side-seed: must be from 0 to 4294967295"),
    "judge --max-tokens 0": (["judge", "s", "--model", "m", "--max-tokens", "0"], "argument --max-tokens: must be at least 1"),
    "results --rounds 0": (["results", "--rounds", "0"], "argument --rounds: must be at least 1, not 0"),
    "web --port 0": (["web", "--port", "0"], "argument --port: must be from 1 to 65535, not 0"),
}


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_a_number_out_of_range_is_refused_before_any_work(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.cli import main

    argv, message = OUT_OF_RANGE[case]
    missing = tmp_path / "ws"  # refused while parsing: the missing workspace is never even looked at
    with pytest.raises(SystemExit) as exit_:
        main(["--workspace", str(missing), *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not missing.exists()
