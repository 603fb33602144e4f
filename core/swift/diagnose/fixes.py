"""What to change after each kind of failure, said in the profile's own terms (``train.*``, ``lora.*``, ``model.*``).

One text per fix, shared by the rules that lead to it (:mod:`core.swift.diagnose.rules`)
and by the verdicts read from the exit code alone (:mod:`core.swift.diagnose.explain`).
"""

from __future__ import annotations

__all__ = [
    "FIX_BNB",
    "FIX_CUDA_OOM",
    "FIX_CUDA_UNAVAILABLE",
    "FIX_DATASET_MALFORMED",
    "FIX_DATASET_NOT_FOUND",
    "FIX_DATASET_TOO_LONG",
    "FIX_DISK_FULL",
    "FIX_FLASH_ATTN",
    "FIX_FLASH_ATTN_CPU",
    "FIX_HOST_OOM",
    "FIX_MODEL_PATH",
    "FIX_MODULE",
    "FIX_NCCL",
    "FIX_OFFLINE",
    "FIX_OK",
    "FIX_STOPPED",
    "FIX_TERMINATED",
    "FIX_UNKNOWN",
    "FIX_UNKNOWN_FLAG",
]

FIX_CUDA_OOM = (
    "lower batch_size (and raise grad_accum to keep the effective batch), turn on gradient_checkpointing, "
    'shorten max_length, or switch to QLoRA (lora.tuner = "qlora"); check that no other process holds the GPU.'
)
FIX_HOST_OOM = (
    "the machine ran out of RAM and the kernel's OOM killer ended the run (see `dmesg | grep -i oom`): "
    "stop other memory-hungry processes, lower dataset_num_proc / dataloader_num_workers (train.extra_args), "
    "or use a machine with more RAM."
)
FIX_DATASET_NOT_FOUND = (
    "check the path in the profile's train.dataset (absolute, or relative to the workspace) and that the file "
    "exists on this machine; run the dataset check (`mhbench dataset --profile PROFILE` / the Train screen's "
    "dataset check) before launching."
)
FIX_DATASET_MALFORMED = (
    "run the dataset check (`mhbench dataset --profile PROFILE` / the Train screen's dataset check); "
    "it names the file and line: repair that line (one JSON object per line, a non-empty `messages` list "
    "of {role, content})."
)
FIX_DATASET_TOO_LONG = (
    "every sampled row is longer than max_length: raise train.max_length, or drop/shorten the long dialogues "
    "(the dataset check lists the lengths)."
)
FIX_UNKNOWN_FLAG = (
    "the installed ms-swift does not know this flag: fix its spelling in the profile (train.extra_args) or use the "
    "name for this swift version (4.x: --tuner_type, not --train_type); `swift sft --help` lists them."
)
FIX_OFFLINE = (
    "this machine cannot download it: on a connected machine run `modelscope download --model ID --local_dir DIR`, "
    'copy DIR here, and set the profile\'s model.id to that directory with model.hub = "local".'
)
FIX_MODEL_PATH = (
    "the model directory does not exist: fix model.id in the profile (a local directory needs "
    'model.hub = "local"), or download it with `modelscope download --model ID --local_dir DIR`.'
)
FIX_DISK_FULL = (
    "the disk is full: free space on the filesystem holding the run's output directory (the workspace's runs/ "
    "folder; old checkpoints are large), lower train.save_total_limit, or move the workspace (--workspace DIR)."
)
FIX_NCCL = (
    "check that NPROC_PER_NODE and CUDA_VISIBLE_DEVICES match the GPUs you mean to use; try NCCL_P2P_DISABLE=1 "
    "and NCCL_IB_DISABLE=1 (and NCCL_DEBUG=INFO for details); run on one GPU to confirm the training itself works."
)
# Both settings, always: swift refuses packing without flash attention, so sdpa alone fails again
# after another model load.
FIX_FLASH_ATTN = (
    "install it on the GPU box (`pip install flash-attn --no-build-isolation` with nvcc, after wheel ninja "
    "packaging; `bash scripts/setup.sh` does it where nvcc or a matching wheel is there), "
    'or set both train.attn_impl = "sdpa" and train.packing = false.'
)
FIX_FLASH_ATTN_CPU = (
    'FlashAttention needs an NVIDIA GPU: set both train.attn_impl = "sdpa" and train.packing = false, '
    "or run on the GPU box."
)
FIX_BNB = (
    'QLoRA needs bitsandbytes: `pip install -U bitsandbytes` on the GPU box (mhbench[gpu]), or set lora.tuner = "lora".'
)
FIX_CUDA_UNAVAILABLE = (
    "this run asked for a GPU that torch cannot see: check `nvidia-smi`, CUDA_VISIBLE_DEVICES and that torch is a "
    'CUDA build (`python -c "import torch; print(torch.cuda.is_available())"`); on a CPU use a tiny demo profile, '
    'lora.tuner = "lora" and no flash attention.'
)
FIX_MODULE = "install the missing package into the project's virtual environment (`pip install NAME`)."
FIX_STOPPED = "nothing to fix: the run was stopped on request; start it again to resume from its last checkpoint."
FIX_TERMINATED = (
    "something outside mhbench sent SIGTERM/SIGINT (a job scheduler, a shutdown, Ctrl-C in a shell): "
    "start it again; it resumes from its last checkpoint."
)
FIX_UNKNOWN = "read the last 30 lines of the log (shown below; the whole log is the run's stdout.log)."
FIX_OK = "nothing to fix."
