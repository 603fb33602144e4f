"""Why a run failed: realistic log tails for every kind, and real ``swift sft`` failures."""

from __future__ import annotations

from core.swift.diagnose import RULES, clean_line, diagnose
from tests.helpers.diagnosis import check

SWIFT = "/opt/venv/lib/python3.11/site-packages/swift"

STEP = (
    "{'loss': 1.83412, 'grad_norm': 0.91234, 'learning_rate': 9.8e-05, 'token_acc': 0.61, 'epoch': 0.06, "
    "'global_step/max_steps': '12/189', 'percentage': '6.35%', 'elapsed_time': '1m 2s', "
    "'remaining_time': '15m 20s', 'memory(GiB)': 71.2, 'train_speed(s/it)': 5.2}"
)


def traceback(*frames: str, error: str) -> list[str]:
    lines = ["Traceback (most recent call last):"]
    lines += [f'  File "{SWIFT}/cli/sft.py", line 20, in <module>', "    sft_main()"]
    for frame in frames:
        lines += [f'  File "{frame}", line 42, in run', "    result = self.run()", "             ^^^^^^^^^^"]
    return [*lines, error]


def preamble(n: int = 40) -> list[str]:
    """What a real stdout.log holds before things go wrong: info lines and progress bars."""
    return [f"[INFO:swift] model_kwargs: {{'device_map': 'cuda:0'}} ({i})" for i in range(n // 2)] + [
        STEP,
        "Train:   6%|▋         | 12/189 [01:02<15:20,  5.20s/it]",
    ] * (n // 4)


# --- out of memory ------------------------------------------------------------------------------

CUDA_OOM = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB "
    "of which 1.06 GiB is free. Including non-PyTorch memory, this process has 78.12 GiB memory in use. Of the "
    "allocated memory 75.31 GiB is allocated by PyTorch, and 1.92 GiB is reserved by PyTorch but unallocated. If "
    "reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid "
    "fragmentation.  See documentation for Memory Management  "
    "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
)


def test_cuda_oom() -> None:
    log = preamble() + traceback(
        f"{SWIFT}/trainers/mixin.py",
        "/opt/venv/lib/python3.11/site-packages/torch/nn/modules/linear.py",
        error=CUDA_OOM,
    )
    result = diagnose(1, log)
    check(result, "oom", "CUDA out of memory", "Tried to allocate 2.00 GiB", "1.06 GiB free of 79.19 GiB")
    assert "batch_size" in result.fix and "grad_accum" in result.fix and "qlora" in result.fix
    assert result.evidence == CUDA_OOM
    assert result.tail[-1] == CUDA_OOM


def test_cuda_oom_older_torch_and_cublas() -> None:
    old = "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 512.00 MiB (GPU 0; 23.68 GiB total capacity)"
    check(diagnose(1, [*preamble(), old]), "oom", "Tried to allocate 512.00 MiB")
    cublas = ("RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",)
    check(diagnose(1, [*preamble(), *cublas]), "oom", "CUBLAS_STATUS_ALLOC_FAILED")


def test_host_oom_killed() -> None:
    log = [*preamble(), "bash: line 1: 12345 Killed                  swift sft --model /models/qwen2_5_7b"]
    result = diagnose(137, log)
    check(result, "oom", "host RAM", "OOM killer")
    assert "RAM" in result.fix
    check(diagnose(-9, [*preamble(), "Killed"]), "oom", "host RAM")
    # "Killed" with a normal failure code is some other program's output, not an OOM kill
    assert diagnose(1, ["Killed"]).kind == "unknown"


def test_sigkill_without_any_log_reads_as_host_oom() -> None:
    # swift's parent process re-raises its child's -9 as sys.exit(-9): exit status 247
    result = diagnose(247, preamble())
    check(result, "oom", "SIGKILL", "OOM killer")
    assert result.evidence is None


def test_dataloader_worker_killed() -> None:
    line = "RuntimeError: DataLoader worker (pid 31337) is killed by signal: Killed. "
    check(diagnose(1, [*preamble(), line]), "oom", "DataLoader worker (pid 31337)")


# --- dataset --------------------------------------------------------------------------------------


def test_dataset_not_found_swift_message() -> None:
    error = (
        "ValueError: The local path does not exist, dataset_id: `/ws/data/counsel_train.jsonl`. "
        "os.path.exists(dataset_id): False"
    )
    log = preamble() + traceback(f"{SWIFT}/dataset/loader.py", error=error)
    result = diagnose(1, log)
    check(result, "dataset_not_found", "/ws/data/counsel_train.jsonl")
    assert "`mhbench dataset --profile PROFILE`" in result.fix


def test_no_dataset_given() -> None:
    # real: `swift sft --model DIR` without --dataset, raised while parsing the arguments
    error = "ValueError: self.dataset: [], self.cached_dataset: []. Please input the training dataset."
    result = diagnose(1, traceback(f"{SWIFT}/arguments/sft_args.py", error=error))
    check(result, "dataset_not_found", "no training dataset")
    assert "train.dataset" in result.fix


def test_dataset_not_found_from_datasets_library() -> None:
    check(
        diagnose(1, [*preamble(), "FileNotFoundError: Unable to find '/ws/data/val.jsonl'"]),
        "dataset_not_found",
        "/ws/data/val.jsonl",
    )
    check(
        diagnose(1, ["FileNotFoundError: [Errno 2] No such file or directory: '/ws/data/train.json'"]),
        "dataset_not_found",
        "/ws/data/train.json",
    )
    check(
        diagnose(1, ["datasets.exceptions.DatasetNotFoundError: Dataset 'me/counsel' doesn't exist on the Hub"]),
        "dataset_not_found",
        "me/counsel",
    )


def test_missing_model_file_is_not_a_missing_dataset() -> None:
    line = "FileNotFoundError: [Errno 2] No such file or directory: '/models/qwen/config.json'"
    result = diagnose(1, [line])
    assert result.kind == "unknown"
    assert result.summary == f"exited with code 1: {line}"


def test_dataset_malformed_json_lines() -> None:
    log = [
        *preamble(),
        "Generating train split: 0 examples [00:00, ? examples/s]Failed to load JSON from file '/ws/data/train.jsonl' "
        "with error <class 'pyarrow.lib.ArrowInvalid'>: JSON parse error: Missing a closing quotation mark in string. "
        "in row 41",
        "Traceback (most recent call last):",
        "ValueError: Trailing data at position 92",
        "pyarrow.lib.ArrowInvalid: JSON parse error: Missing a closing quotation mark in string. in row 41",
        "The above exception was the direct cause of the following exception:",
        "datasets.exceptions.DatasetGenerationError: An error occurred while generating the dataset",
    ]
    result = diagnose(1, log)
    # the most telling line names the file, even though DatasetGenerationError comes last
    check(result, "dataset_malformed", "/ws/data/train.jsonl", "in row 41")
    assert result.evidence is not None and result.evidence.startswith("Failed to load JSON")
    assert "`mhbench dataset --profile PROFILE`" in result.fix


def test_dataset_malformed_json_decode_and_generation_error() -> None:
    check(
        diagnose(1, ["json.decoder.JSONDecodeError: Expecting ',' delimiter: line 1 column 57 (char 56)"]),
        "dataset_malformed",
        "Expecting ',' delimiter",
    )
    check(
        diagnose(1, ["datasets.exceptions.DatasetGenerationError: An error occurred while generating the dataset"]),
        "dataset_malformed",
        "An error occurred while generating the dataset",
    )


def test_dataset_empty_after_preprocessing() -> None:
    log = [
        *preamble(),
        "Traceback (most recent call last):",
        f'  File "{SWIFT}/dataset/preprocessor/core.py", line 239, in batched_preprocess',
        "    self._check_messages(r)",
        "AssertionError: messages: []",
        "",
        "[WARNING:swift] 👆👆👆There are errors in the dataset, the data will be deleted",
        "[INFO:swift] Dataset filtered, origin length: 120, filtered dataset length: 0",
        *traceback(f"{SWIFT}/dataset/loader.py", error="    n_repeat_sample = dataset_sample // len(dataset)")[:-1],
        f'  File "{SWIFT}/dataset/utils.py", line 37, in sample_dataset',
        "    n_repeat_sample = dataset_sample // len(dataset)",
        "ZeroDivisionError: integer division or modulo by zero",
    ]
    check(diagnose(1, log), "dataset_malformed", "empty after preprocessing", "0 of 120 rows kept", "messages: []")
    # a ZeroDivisionError anywhere else is not about the dataset
    assert diagnose(1, ["ZeroDivisionError: division by zero"]).kind == "unknown"


def test_rows_longer_than_max_length() -> None:
    line = (
        "ValueError: Failed to retrieve the dataset. You can avoid this issue by increasing `max_length` or "
        "modifying the `truncation_strategy`."
    )
    result = diagnose(1, [*preamble(), line])
    check(result, "dataset_malformed", "max_length")
    assert "max_length" in result.fix


# --- command line ---------------------------------------------------------------------------------


def test_unknown_flag_remaining_argv() -> None:
    log = [
        "run sh: `/opt/venv/bin/python3 /opt/venv/lib/python3.11/site-packages/swift/cli/sft.py --lora_rnak 8`",
        *traceback(f"{SWIFT}/pipelines/base.py", error="ValueError: remaining_argv: ['--lora_rnak', '8', '--fp17']"),
    ]
    result = diagnose(1, log)
    check(result, "unknown_flag", "--lora_rnak --fp17")
    assert "'8'" not in result.summary
    hinted = diagnose(1, log, known_flags=["--lora_rank", "--lora_alpha", "--fp16", "--bf16"])
    check(hinted, "unknown_flag", "did you mean --lora_rank, --fp16?")


def test_unknown_flag_argparse() -> None:
    log = ["usage: torchrun [-h] [--nnodes NNODES]", "torchrun: error: unrecognized arguments: --nproc-per-nod 2"]
    check(diagnose(2, log), "unknown_flag", "--nproc-per-nod")


# --- models ---------------------------------------------------------------------------------------

MODELSCOPE_OFFLINE = [
    "[INFO:swift] Downloading the model from ModelScope Hub, model_id: Qwen/Qwen2.5-7B-Instruct",
    "2026-11-22 18:39:28,339 | WARNING | modelscope_hub.legacy_api | Repo Qwen/Qwen2.5-7B-Instruct: Root=/ page=1 "
    "listing failed (NetworkError), retry in 1s (1/4)",
    *traceback(f"{SWIFT}/utils/hub_utils.py", error="")[:-1],
    "modelscope_hub.errors.NetworkError: [E1020] Connection failed: _DownloadHTTPSConnectionPool(host='modelscope.cn', "
    "port=443): Max retries exceeded with url: /api/v1/models/Qwen/Qwen2.5-7B-Instruct/repo/files?Revision=master&"
    "Recursive=True (Caused by NameResolutionError(\"_DownloadHTTPSConnection(host='modelscope.cn', port=443): Failed "
    "to resolve 'modelscope.cn' ([Errno -2] Name or service not known)\"))",
]


def test_model_offline_modelscope() -> None:
    result = diagnose(1, MODELSCOPE_OFFLINE)
    check(result, "model_not_found_offline", "Qwen/Qwen2.5-7B-Instruct", "Failed to resolve 'modelscope.cn'")
    assert "modelscope download --model" in result.fix and 'hub = "local"' in result.fix


def test_model_offline_huggingface() -> None:
    log = [
        "[INFO:swift] Downloading the model from HuggingFace Hub, model_id: meta-llama/Llama-3.1-8B-Instruct",
        "huggingface_hub.errors.OfflineModeIsEnabled: Cannot reach https://huggingface.co/api/models/meta-llama/"
        "Llama-3.1-8B-Instruct/revision/main: offline mode is enabled. To disable it, please unset the "
        "`HF_HUB_OFFLINE` environment variable.",
        "huggingface_hub.errors.LocalEntryNotFoundError: Cannot find an appropriate cached snapshot folder for the "
        "specified revision on the local disk and outgoing traffic has been disabled. To enable repo look-ups and "
        "downloads online, set 'HF_HUB_OFFLINE=0' as environment variable.",
    ]
    check(diagnose(1, log), "model_not_found_offline", "meta-llama/Llama-3.1-8B-Instruct", "not available offline")
    transformers_style = (
        "OSError: We couldn't connect to 'https://huggingface.co' to load the files, and couldn't find them in the "
        "cached files. Check your internet connection or see how to run the library in offline mode at "
        "'https://huggingface.co/docs/transformers/installation#offline-mode'."
    )
    check(diagnose(1, [transformers_style]), "model_not_found_offline", "We couldn't connect to")
    not_a_folder = (
        "OSError: hfl/llama-3-chinese-8b-instruct-v2 is not a local folder and is not a valid model identifier listed "
        "on 'https://huggingface.co/models'"
    )
    check(diagnose(1, [not_a_folder]), "model_not_found_offline", "hfl/llama-3-chinese-8b-instruct-v2")


def test_model_repo_does_not_exist() -> None:
    check(
        diagnose(1, ["modelscope_hub.errors.NotFoundError: Repo LLM-Research/Meta-Llama-3.1-8B-Instrct not exist"]),
        "model_not_found_offline",
        "LLM-Research/Meta-Llama-3.1-8B-Instrct",
    )


def test_local_model_directory_missing() -> None:
    log = traceback(f"{SWIFT}/utils/hub_utils.py", error="ValueError: path: '/models/qwen2_5_7b' not found")
    result = diagnose(1, log)
    check(result, "model_not_found", "/models/qwen2_5_7b")
    assert "model.id" in result.fix


# --- disk, NCCL, packages, devices -------------------------------------------------------------------


def test_disk_full() -> None:
    log = [
        *preamble(),
        "RuntimeError: [enforce fail at inline_container.cc:603] . unexpected pos 1711424 vs 1711312",
        "OSError: [Errno 28] No space left on device: '/ws/runs/r7/output/checkpoint-200/adapter_model.safetensors'",
    ]
    result = diagnose(1, log)
    check(result, "disk_full", "No space left on device", "checkpoint-200")
    assert "output directory" in result.fix
    writer = "RuntimeError: PytorchStreamWriter failed writing file data/12: file write failed"
    check(diagnose(1, [writer]), "disk_full", "PytorchStreamWriter")


NCCL_ERROR = [
    "[rank1]: torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/NCCLUtils.hpp:317, "
    "unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5",
    "[rank1]: ncclSystemError: System call (e.g. socket, malloc) or external library call failed or device error.",
    "W1122 18:40:00.123000 1234 torch/distributed/elastic/multiprocessing/api.py:897] Sending process 5678 closing "
    "signal SIGTERM",
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
]


def test_nccl() -> None:
    result = diagnose(1, [*preamble(), *NCCL_ERROR])
    check(result, "nccl", "ncclSystemError")
    assert "NCCL_P2P_DISABLE=1" in result.fix and "CUDA_VISIBLE_DEVICES" in result.fix
    watchdog = (
        "[rank0]:[E1122 18:40:00.000000000 ProcessGroupNCCL.cpp:632] [Rank 0] Watchdog caught collective operation "
        "timeout: WorkNCCL(SeqNum=1234, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=1800000) ran for 1800021 "
        "milliseconds before timing out."
    )
    check(diagnose(1, [watchdog]), "nccl", "ProcessGroupNCCL")


def test_nccl_timeout_after_an_oom_on_another_rank_is_the_oom() -> None:
    log = [*preamble(), f"[rank1]: {CUDA_OOM}", *NCCL_ERROR]
    check(diagnose(1, log), "oom", "Tried to allocate 2.00 GiB")


def test_flash_attn_missing() -> None:
    toggled = (
        "ImportError: FlashAttention2 has been toggled on, but it cannot be used due to the following error: the "
        "package for FlashAttention2 doesn't seem to be installed."
    )
    result = diagnose(1, [*preamble(), toggled])
    check(result, "flash_attn_missing", "FlashAttention2")
    assert "pip install flash-attn --no-build-isolation" in result.fix and 'attn_impl = "sdpa"' in result.fix
    check(diagnose(1, ["ModuleNotFoundError: No module named 'flash_attn'"]), "flash_attn_missing", "flash_attn")


def test_bitsandbytes_missing() -> None:
    line = "ImportError: Using `bitsandbytes` 4-bit quantization requires bitsandbytes: `pip install -U bitsandbytes>=0.46.1`"
    result = diagnose(1, [*preamble(), line])
    check(result, "bitsandbytes_missing", "requires bitsandbytes")
    assert "bitsandbytes" in result.fix
    check(diagnose(1, ["ModuleNotFoundError: No module named 'bitsandbytes'"]), "bitsandbytes_missing")


def test_cuda_unavailable() -> None:
    check(
        diagnose(1, ["AssertionError: Torch not compiled with CUDA enabled"]), "cuda_unavailable", "Torch not compiled"
    )
    check(diagnose(1, ["RuntimeError: No CUDA GPUs are available"]), "cuda_unavailable", "No CUDA GPUs")
    on_cpu = (
        "ImportError: FlashAttention2 has been toggled on, but it cannot be used due to the following error: "
        "FlashAttention2 is not available on CPU. Please make sure you are on any of the supported devices: ('cuda',)."
    )
    result = diagnose(1, [on_cpu])
    check(result, "cuda_unavailable", "FlashAttention")
    assert "sdpa" in result.fix


def test_other_missing_module() -> None:
    check(diagnose(1, ["ModuleNotFoundError: No module named 'liger_kernel'"]), "module_missing", "liger_kernel")


# --- how a run ended ----------------------------------------------------------------------------------


def test_stopped_on_request_is_not_a_failure() -> None:
    for name, code in (("SIGTERM", -15), ("SIGKILL", -9), ("SIGINT", 130)):
        result = diagnose(code, [*preamble(), CUDA_OOM], signal_name=name)
        check(result, "stopped", name)
        assert not result.failed
    assert not diagnose(0, preamble()).failed


def test_terminated_from_outside() -> None:
    result = diagnose(143, preamble())
    check(result, "terminated", "SIGTERM")
    assert result.failed


def test_clean_exit() -> None:
    result = diagnose(0, [*preamble(), "[INFO:swift] last_model_checkpoint: /ws/runs/r1/output/checkpoint-189"])
    assert (result.kind, result.evidence) == ("ok", None)


def test_unknown() -> None:
    log = [*preamble(), "RuntimeError: expected scalar type BFloat16 but found Float", "[rank0]: exiting"]
    result = diagnose(1, log)
    check(result, "unknown", "exited with code 1: RuntimeError: expected scalar type BFloat16 but found Float")
    assert "last 30 lines" in result.fix
    assert result.tail == tuple(log[-30:])
    bare = diagnose(3, ["hello"])
    assert (bare.kind, bare.summary, bare.evidence) == ("unknown", "exited with code 3", None)
    assert diagnose(None, []).summary == "ended without a recorded exit code"


def test_whole_tail_searched_but_only_30_lines_kept() -> None:
    log = ["x"] * 10 + ["OSError: [Errno 28] No space left on device"] + [f"line {i}" for i in range(100)]
    result = diagnose(1, log)
    assert result.kind == "disk_full"
    assert len(result.tail) == 30 and result.tail[-1] == "line 99"
    assert result.evidence == "OSError: [Errno 28] No space left on device"


def test_last_match_wins() -> None:
    early_warning = "[WARNING:swift] flash_attn import failed: No module named 'flash_attn'; falling back to sdpa"
    assert diagnose(1, [early_warning, *preamble(), CUDA_OOM]).kind == "oom"
    assert diagnose(1, [CUDA_OOM, *preamble(), early_warning]).kind == "flash_attn_missing"


def test_lines_are_cleaned() -> None:
    coloured = "\x1b[31mtorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB.\x1b[0m\n"
    result = diagnose(1, [coloured])
    check(result, "oom", "Tried to allocate 20.00 MiB")
    assert result.evidence == "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB."
    assert clean_line("Train:   1%|          | 1/189 [00:05<15:20,  5.2s/it]\rTrain:   2%|          | 2/189") == (
        "Train:   2%|          | 2/189"
    )
    assert clean_line("Map: 100%|██| 1/1 [00:00<00:00,  6.60 examples/s]Failed to load JSON") == "Failed to load JSON"
    assert (
        clean_line("Map: 100%|██| 1/1 [00:00<00:00,  6.60 examples/s]")
        == "Map: 100%|██| 1/1 [00:00<00:00,  6.60 examples/s]"
    )


def test_rule_table_is_well_formed() -> None:
    kinds = {rule.kind for rule in RULES}
    assert {
        "oom",
        "dataset_not_found",
        "dataset_malformed",
        "unknown_flag",
        "model_not_found_offline",
        "disk_full",
        "nccl",
        "flash_attn_missing",
        "bitsandbytes_missing",
        "cuda_unavailable",
    } <= kinds
    assert all(rule.fix.strip() and rule.summary.strip() for rule in RULES)
