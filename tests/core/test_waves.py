"""Wave plans: servers grouped so that each wave's estimates fit the budget, refused before any work when one cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.base.errors import MhbenchError
from core.models.serving import LlamaCppSpec, SwiftDeploySpec
from core.models.waves import (
    BATCH_ENGINES_CONCURRENCY,
    Budget,
    ServerUnit,
    concurrency_of,
    memory_budget,
    plan_waves,
)

BOX = Budget(72.0, "--memory-budget")
"""An H100 80 GB less its margin."""


def _unit(*models: str, gb: float, running: bool = False) -> ServerUnit:
    return ServerUnit(models, gb, running)


def test_eight_seven_b_models_go_in_waves_that_each_fit_the_budget() -> None:
    units = [_unit(f"m{n}", gb=15.0 + n) for n in range(8)]
    plan = plan_waves(units, [(unit.models[0],) for unit in units], BOX)
    assert all(wave.memory_gb <= BOX.gb for wave in plan.waves)
    assert sorted(model for wave in plan.waves for model in wave.models) == sorted(f"m{n}" for n in range(8))
    # First fit, largest first: 22+21+20 | 19+18+17+16 | 15.
    assert [wave.models for wave in plan.waves] == [("m7", "m6", "m5"), ("m4", "m3", "m2", "m1"), ("m0",)]
    assert plan.estimates == {f"m{n}": 15.0 + n for n in range(8)}
    assert plan.wave_of(["m7"]) == 0 and plan.wave_of(["endpoint-not-planned"]) is None


def test_a_budget_that_fits_one_server_gives_one_wave_per_server() -> None:
    units = [_unit("tiny-qwen2", gb=1.0), _unit("tiny-llama3", gb=1.0), _unit("learning-qwen2", gb=1.0)]
    plan = plan_waves(units, [("tiny-qwen2",), ("tiny-llama3",), ("learning-qwen2",)], Budget(1.5, "--memory-budget"))
    assert [wave.models for wave in plan.waves] == [("tiny-qwen2",), ("tiny-llama3",), ("learning-qwen2",)]


def test_adapters_of_one_base_are_one_server_and_count_once() -> None:
    shared = _unit("qwen-lora-a", "qwen-lora-b", gb=17.0)
    plan = plan_waves([shared, _unit("llama", gb=20.0)], [("qwen-lora-a",), ("qwen-lora-b",), ("llama",)],
                      Budget(40.0, "--memory-budget"))
    assert len(plan.waves) == 1 and plan.waves[0].memory_gb == 37.0
    assert plan.wave_of(["qwen-lora-a"]) == plan.wave_of(["qwen-lora-b"]) == 0


def test_a_model_that_cannot_fit_alone_is_refused_naming_it_its_estimate_and_the_budget() -> None:
    with pytest.raises(MhbenchError) as refused:
        plan_waves([_unit("small", gb=5.0), _unit("llama3-70b", gb=140.0)], [("small",), ("llama3-70b",)], BOX)
    message = str(refused.value)
    assert "llama3-70b" in message and "140.0 GB" in message and "72.0 GB" in message
    assert "--memory-budget" in message and "GGUF" in message and "small" not in message


def test_a_dialogue_is_planned_with_its_client_and_the_client_stays_across_waves() -> None:
    client = _unit("client", gb=16.0)
    candidates = [_unit(f"c{n}", gb=18.0) for n in range(4)]
    needs = [(f"c{n}", "client") for n in range(4)]
    plan = plan_waves([client, *candidates], needs, BOX)
    for n in range(4):
        index = plan.wave_of([f"c{n}", "client"])
        assert index is not None and {f"c{n}", "client"} <= set(plan.waves[index].models)
    assert all("client" in wave.models for wave in plan.waves)
    assert all(wave.memory_gb <= BOX.gb for wave in plan.waves) and len(plan.waves) == 2


def test_a_dialogue_whose_two_models_cannot_fit_together_is_refused() -> None:
    with pytest.raises(MhbenchError, match="must be served together"):
        plan_waves([_unit("client", gb=40.0), _unit("c0", gb=40.0)], [("c0", "client")], BOX)


def test_a_server_already_running_costs_nothing_more_against_measured_free_memory_only() -> None:
    units = [_unit("running", gb=60.0, running=True), _unit("new", gb=60.0)]
    assert len(plan_waves(units, [("running",), ("new",)], Budget(72.0, "free GPU memory", measured=True)).waves) == 1
    assert len(plan_waves(units, [("running",), ("new",)], BOX).waves) == 2


def test_the_budget_is_the_flag_or_measured_and_never_zero_or_less() -> None:
    assert memory_budget(12.5) == Budget(12.5, "--memory-budget")
    measured = memory_budget()
    assert measured.gb > 0 and "GPU" in measured.source and measured.measured
    with pytest.raises(MhbenchError, match="more than 0 GB"):
        memory_budget(0)


def test_each_engine_gets_as_many_requests_as_it_serves_well(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MHBENCH_LLAMA_SERVER", "")  # the fallback, llama_cpp.server: one stream at a time
    assert concurrency_of(LlamaCppSpec("/m.gguf")) == 1
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("MHBENCH_LLAMA_SERVER", str(binary))  # llama-server: its parallel slots
    assert concurrency_of(LlamaCppSpec("/m.gguf", parallel=6)) == 6
    assert concurrency_of(SwiftDeploySpec("/m")) == 1
    # Batched, swift's transformers engine pads and ignores seeds: the record is made one at a time.
    assert concurrency_of(SwiftDeploySpec("/m", extra={"max_batch_size": 8})) == 1
    for engine in ("vllm", "lmdeploy", "sglang"):
        assert concurrency_of(SwiftDeploySpec("/m", infer_backend=engine)) == BATCH_ENGINES_CONCURRENCY >= 32
