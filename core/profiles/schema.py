"""The profile schema: one pydantic model per TOML section, every field documented."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class Range(_Strict):
    """A low–high estimate, as the source configs give them."""

    low: float = Field(ge=0)
    """Lower end of the estimate."""
    high: float = Field(ge=0)
    """Upper end of the estimate."""

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        return self

    def __str__(self) -> str:
        return f"{self.low:g}–{self.high:g}"


class ModelSection(_Strict):
    """Which base model to fine-tune and how to talk to it."""

    id: str = Field(min_length=1)
    """Hub id (``Qwen/Qwen2.5-7B-Instruct``) or a local directory with the weights."""
    hub: Literal["modelscope", "huggingface", "local"] = "modelscope"
    """Where ``id`` is looked up: ModelScope (swift's default), Hugging Face (``--use_hf``), or a local path."""
    modelscope_id: str | None = None
    """The ModelScope id, when it differs from the Hugging Face ``id``."""
    family: Literal["qwen2_5", "llama3_1", "llama3_chinese", "llama3", "llama2", "qwen2", "auto"] = "auto"
    """Model family; ``core.swift.dialects`` turns it into the installed swift's model type and template names. ``auto`` lets swift infer the type from the local config."""
    template: str = Field(min_length=1)
    """Chat template name as the source config gives it (``qwen2_5``, ``llama3``); renamed per swift dialect."""
    context_length: int = Field(default=4096, gt=0)
    """Longest context the model supports, in tokens."""
    default_system: str | None = None
    """System prompt used when none is given."""
    gguf_id: str | None = None
    """Id of a ready-made GGUF variant, if the publisher ships one."""
    licence: str = "unknown"
    """Licence of the weights (``Apache-2.0``, ``Llama 3.1 Community``…)."""
    gated: bool = False
    """True when the hub asks users to accept a licence before download."""


class LoraSection(_Strict):
    """The adapter: LoRA, or QLoRA on a 4-bit base."""

    tuner: Literal["lora", "qlora"] = "lora"
    """``lora`` on a bf16 base, or ``qlora`` on a bitsandbytes 4-bit base."""
    rank: int = Field(default=8, gt=0, le=1024)
    """LoRA rank r."""
    alpha: int = Field(default=32, gt=0)
    """LoRA alpha (scaling is alpha / r)."""
    dropout: float = Field(default=0.05, ge=0, lt=1)
    """Dropout on the LoRA path."""
    target_modules: tuple[str, ...] = ("all-linear",)
    """Module names to adapt (``q_proj``…), or ``all-linear``."""
    quant_bits: Literal[4, 8] = 4
    """Bits of the quantised base when ``tuner = "qlora"``."""
    trainable_params_note: str | None = None
    """What the source config reports about the trainable share (for the record)."""


class TrainSection(_Strict):
    """Hyper-parameters of ``swift sft``."""

    dataset: tuple[str, ...] = Field(min_length=1)
    """Dataset hub ids or local files (JSONL in ShareGPT, messages or Alpaca form)."""
    dataset_format: Literal["sharegpt", "messages", "alpaca", "dolly", "query_response", "auto"] = "auto"
    """Record layout of the dataset, when known."""
    val_dataset: tuple[str, ...] = ()
    """Separate validation files; empty means split from ``dataset``."""
    split_dataset_ratio: float = Field(default=0.0, ge=0, lt=1)
    """Share of ``dataset`` held out for evaluation when there is no ``val_dataset``."""
    batch_size: int = Field(default=1, gt=0)
    """Per-device train batch size."""
    grad_accum: int = Field(default=1, gt=0)
    """Gradient accumulation steps."""
    learning_rate: float = Field(default=1e-4, gt=0, lt=1)
    """Peak learning rate."""
    epochs: float = Field(default=1, gt=0)
    """Number of training epochs."""
    max_steps: int | None = Field(default=None, gt=0)
    """Stop after this many optimiser steps (overrides ``epochs``)."""
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    """Share of steps spent warming up the learning rate."""
    max_length: int = Field(default=2048, gt=0)
    """Longest training sequence in tokens; longer samples are truncated or dropped by swift."""
    packing: bool = False
    """Pack several samples into one sequence of ``max_length``."""
    gradient_checkpointing: bool = True
    """Trade compute for memory by recomputing activations."""
    dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    """Compute dtype of the base model."""
    attn_impl: Literal["flash_attn", "sdpa", "eager"] | None = None
    """Attention kernel; ``flash_attn`` needs the flash-attn package and a GPU."""
    save_steps: int = Field(default=200, gt=0)
    """Save a checkpoint every N steps."""
    save_total_limit: int = Field(default=3, gt=0)
    """Keep only the newest N checkpoints."""
    logging_steps: int = Field(default=10, gt=0)
    """Write a ``logging.jsonl`` line every N steps."""
    eval_steps: int | None = Field(default=None, gt=0)
    """Evaluate every N steps; defaults to ``save_steps``."""
    seed: int = 42
    """Random seed of the run."""
    extra_args: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Further ``swift sft`` flags, verbatim (``{lr_scheduler_type = "cosine"}``); checked against the installed swift."""


class ResourcesSection(_Strict):
    """What the source configs expect on the GPU box."""

    train_vram_gb: Range | None = None
    """Expected GPU memory for training, in GB."""
    infer_vram_gb: Range | None = None
    """Expected GPU memory for inference, in GB."""
    hours_per_epoch: Range | None = None
    """Expected wall time per epoch, in hours."""
    reference_gpu: str = "1× H100 80GB"
    """The hardware the estimates refer to."""


class DistributedSection(_Strict):
    """How a run spreads over processes and machines: swift's own torchrun re-exec and DeepSpeed.

    swift starts ``torch.distributed.run`` itself when ``NPROC_PER_NODE`` or ``NNODES``
    is set, passing ``NPROC_PER_NODE``, ``MASTER_PORT``, ``NNODES``, ``NODE_RANK`` and
    ``MASTER_ADDR`` on as torchrun's options. The node rank and the master's address
    differ per machine, so they are launch options (``--node-rank``, ``--master-addr``).
    """

    nnodes: int = Field(default=1, gt=0, le=1024)
    """Machines taking part (``NNODES``); above 1 every node starts the same command with its own rank."""
    nproc_per_node: int | None = Field(default=None, gt=0, le=64)
    """Processes per machine, one per GPU (``NPROC_PER_NODE``); ``None``: one process, no torchrun."""
    master_port: int = Field(default=29500, ge=1024, le=65535)
    """Port on the master node (rank 0) that the others connect to (``MASTER_PORT``)."""
    deepspeed: Literal["zero2", "zero3", "zero2_offload", "zero3_offload"] | None = None
    """swift's DeepSpeed preset: ZeRO-2/ZeRO-3, optionally offloading optimizer state (and ZeRO-3 weights) to CPU."""


class DeploySection(_Strict):
    """How ``swift deploy`` serves the model."""

    infer_backend: Literal["transformers", "pt", "vllm", "lmdeploy", "sglang"] = "transformers"
    """Inference engine behind the OpenAI-compatible API."""
    tensor_parallel: int = Field(default=1, gt=0)
    """Tensor-parallel degree (GPUs per replica)."""
    session_len: int = Field(default=4096, gt=0)
    """Longest conversation the server keeps, in tokens."""
    served_model_name: str | None = None
    """Name the server reports in ``/v1/models``."""
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    """Share of each GPU the engine may take (vLLM's ``gpu_memory_utilization``, lmdeploy's KV-cache share, SGLang's static memory fraction); ``None``: the engine's default."""


class ExportSection(_Strict):
    """How ``swift export`` writes a merged model."""

    merge_lora: bool = True
    """Merge the adapter into the base weights."""
    format: Literal["safetensors", "bin"] = "safetensors"
    """Weight file format of the merged model."""
    max_shard_size: str = Field(default="2GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB)$")
    """Largest weight shard (``2GB``)."""


class Profile(_Strict):
    """One model profile: a base model plus how to fine-tune, serve and export it."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Unique id, also the file stem (``qwen2.5-7b-instruct``)."""
    display_name: str = ""
    """Human-readable name shown in lists."""
    description: str = ""
    """One line about the profile."""
    notes: tuple[str, ...] = ()
    """Caveats worth reading before a run (weak Chinese, gated licence…)."""
    extends: str | None = None
    """Name of a profile whose values this one starts from (workspace profiles)."""
    model: ModelSection
    """The base model."""
    lora: LoraSection = Field(default_factory=LoraSection)
    """The adapter."""
    train: TrainSection
    """Training hyper-parameters."""
    resources: ResourcesSection = Field(default_factory=ResourcesSection)
    """Expected GPU memory and time."""
    distributed: DistributedSection = Field(default_factory=DistributedSection)
    """Processes, nodes and DeepSpeed for training."""
    deploy: DeploySection = Field(default_factory=DeploySection)
    """Serving settings."""
    export: ExportSection = Field(default_factory=ExportSection)
    """Merge and export settings."""

    @property
    def title(self) -> str:
        return self.display_name or self.name


def _known_keys(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    keys: dict[str, type[BaseModel] | None] = {}
    for key, field in model.model_fields.items():
        annotation = field.annotation
        nested = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if nested is None:
            for arg in getattr(annotation, "__args__", ()):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    nested = arg
        keys[key] = nested
    return keys

