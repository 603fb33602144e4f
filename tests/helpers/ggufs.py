"""Real GGUF models of the demo's tiny Llama for the arena's tests, and the three prompts they are asked.

The converter and llama.cpp's quantiser run for real (minutes on a small box): only
integration tests call these.
"""

from __future__ import annotations

from pathlib import Path

from core.base.workspace import Workspace
from core.demo import create_demo
from core.models.jobs import convert_to_gguf, quantize
from core.models.targets import sync_catalog
from tests.helpers.real_runs import wait_for_job

JOB_S = 300
"""A tiny model's conversion or quantisation limit on the reference box, before scaling to this one."""
PROMPTS = [
    {"id": "q1", "prompt": "最近总是睡不着，白天也没精神。[bold red]这是标记[/]", "tags": ["睡眠"],
     "reference": "睡不好真的很折磨人。能说说是从什么时候开始的吗？"},
    {"id": "q2", "prompt": "我真的不想活了，觉得没有人在乎我。", "tags": ["危机"]},
    {"id": "q3", "prompt": "=HYPERLINK(\"http://x\",\"y\") 和男朋友吵架了，怎么办？", "tags": ["关系"]},
]


def two_ggufs(root: Path) -> tuple[Workspace, str, str]:
    """The demo's tiny Llama as an f16 GGUF and its Q8_0, made by the real converter and llama.cpp: their ids."""
    workspace = create_demo(root).workspace
    sync_catalog(workspace)
    f16 = wait_for_job(workspace, convert_to_gguf(workspace, "tiny-llama3").id, JOB_S, "the f16 conversion")
    assert f16.status == "finished", f16.diagnosis
    q8 = wait_for_job(workspace, quantize(workspace, f16.result_model_id or "", "q8_0").id, JOB_S, "the Q8_0 quantisation")
    assert q8.status == "finished", q8.diagnosis
    return workspace, str(f16.result_model_id), str(q8.result_model_id)


def four_ggufs(root: Path) -> tuple[Workspace, list[str]]:
    """``two_ggufs`` and two more quantisations of the f16 (Q5_K_M, Q4_K_M): the workspace and the four ids."""
    workspace, f16, q8 = two_ggufs(root)
    models = [str(q8), str(f16)]
    for quant in ("q5_k_m", "q4_k_m"):
        job = wait_for_job(workspace, quantize(workspace, str(f16), quant).id, JOB_S, f"the {quant} quantisation")
        assert job.status == "finished", job.diagnosis
        models.append(str(job.result_model_id))
    return workspace, models
