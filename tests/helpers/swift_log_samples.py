"""ms-swift log lines shared by the tests of the tails, the record parser and the run curve."""

from __future__ import annotations

import json
from pathlib import Path

from core.train.records import StepRecord, parse_record

# Real lines from ms-swift 4.6 (`swift sft` of a tiny model on CPU), copied verbatim.
REAL_46_LOG = r"""{"loss": 8.30970955, "grad_norm": 0.35527766, "learning_rate": 0.00085355, "token_acc": 0.01792115, "epoch": 0.03125, "global_step/max_steps": "1/4", "elapsed_time": "0s", "remaining_time": "1s", "train_speed(s/it)": 0.24118}
{"loss": 8.33544159, "grad_norm": 0.3090938, "learning_rate": 0.0005, "token_acc": 0.00343643, "epoch": 0.0625, "global_step/max_steps": "2/4", "elapsed_time": "0s", "remaining_time": "0s", "train_speed(s/it)": 0.21014}
{"loss": 8.29720783, "grad_norm": 0.33735913, "learning_rate": 0.00014645, "token_acc": 0.00727273, "epoch": 0.09375, "global_step/max_steps": "3/4", "elapsed_time": "1s", "remaining_time": "0s", "train_speed(s/it)": 0.233683}
{"loss": 8.33517933, "grad_norm": 0.29914871, "learning_rate": 0.0, "token_acc": 0.0, "epoch": 0.125, "global_step/max_steps": "4/4", "elapsed_time": "1s", "remaining_time": "0s", "train_speed(s/it)": 0.188101}
{"eval_loss": 8.32240391, "eval_runtime": 0.2044, "eval_samples_per_second": 29.359, "eval_steps_per_second": 14.679, "eval_token_acc": 0.0, "epoch": 0.125, "global_step/max_steps": "4/4", "elapsed_time": "1s", "remaining_time": "0s", "train_speed(s/it)": 0.240471}
{"train_runtime": 1.3898, "train_samples_per_second": 5.756, "train_steps_per_second": 2.878, "total_flos": 1525617408.0, "train_loss": 8.31938457, "epoch": 0.125, "global_step/max_steps": "4/4", "elapsed_time": "1s", "remaining_time": "0s", "train_speed(s/it)": 0.346458}
{"train_dataset": "257.206349±46.816480, min=158.000000, max=419.000000, size=63", "val_dataset": "308.166667±62.011872, min=234.000000, max=433.000000, size=6", "model_parameter_info": "PeftModelForCausalLM: 0.3695M Params (0.0187M Trainable [5.0580%]), 0.0000M Buffers.", "last_model_checkpoint": "/tmp/dw/runs/t1/output/checkpoint-4", "best_model_checkpoint": "/tmp/dw/runs/t1/output/checkpoint-4", "best_metric": 8.32240391, "global_step": 4, "log_history": [{"loss": 8.309709548950195, "grad_norm": 0.3552776575088501, "learning_rate": 0.0008535533905932737, "token_acc": 0.017921146953405017, "epoch": 0.03125, "step": 1}, {"loss": 8.335441589355469, "grad_norm": 0.30909380316734314, "learning_rate": 0.0005, "token_acc": 0.003436426116838488, "epoch": 0.0625, "step": 2}, {"loss": 8.297207832336426, "grad_norm": 0.33735913038253784, "learning_rate": 0.00014644660940672628, "token_acc": 0.007272727272727273, "epoch": 0.09375, "step": 3}, {"loss": 8.335179328918457, "grad_norm": 0.29914870858192444, "learning_rate": 0.0, "token_acc": 0.0, "epoch": 0.125, "step": 4}, {"eval_loss": 8.322403907775879, "eval_runtime": 0.2044, "eval_samples_per_second": 29.359, "eval_steps_per_second": 14.679, "eval_token_acc": 0.0, "epoch": 0.125, "step": 4}, {"train_runtime": 1.3898, "train_samples_per_second": 5.756, "train_steps_per_second": 2.878, "total_flos": 1525617408.0, "train_loss": 8.319384574890137, "epoch": 0.125, "step": 4}], "memory": 0}
"""


# The same shapes with every value written as a string (as the brief describes 4.x), GPU memory included.
STEP_STRINGS = {
    "loss": "8.31",
    "grad_norm": "0.3553",
    "learning_rate": "0.0008536",
    "token_acc": "0.01792",
    "epoch": "0.03125",
    "global_step/max_steps": "1/4",
    "elapsed_time": "0s",
    "remaining_time": "1s",
    "memory(GiB)": "13.2",
    "train_speed(s/it)": "0.2412",
}


EVAL_STRINGS = {
    "eval_loss": "8.322",
    "eval_runtime": "0.2044",
    "eval_samples_per_second": "29.36",
    "eval_steps_per_second": "14.68",
    "eval_token_acc": "0",
    "epoch": "0.125",
    "global_step/max_steps": "4/4",
    "elapsed_time": "1s",
    "remaining_time": "0s",
    "train_speed(s/it)": "0.2405",
}


SUMMARY_STRINGS = {
    "train_runtime": "1.39",
    "train_samples_per_second": "5.756",
    "train_steps_per_second": "2.878",
    "train_loss": "8.319",
    "epoch": "0.125",
    "global_step/max_steps": "4/4",
    "elapsed_time": "1s",
    "remaining_time": "0s",
    "train_speed(s/it)": "0.3465",
}


# ms-swift 3.x: numbers, `percentage`, and speed in iterations per second.
STEP_3X = {
    "loss": 1.2345,
    "token_acc": 0.61,
    "grad_norm": 0.9,
    "learning_rate": 0.0001,
    "memory(GiB)": 17.5,
    "train_speed(iter/s)": 0.25,
    "epoch": 0.1,
    "global_step/max_steps": "12/189",
    "percentage": "6.35%",
    "elapsed_time": "4m 28s",
    "remaining_time": "1h 5m 57s",
}


def line(obj: object) -> str:
    return json.dumps(obj) + "\n"


def append(path: Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    with path.open("ab") as handle:
        handle.write(data)


def real_records() -> list[StepRecord]:
    records = [parse_record(json.loads(text)) for text in REAL_46_LOG.splitlines()]
    assert all(record is not None for record in records)
    return [record for record in records if record is not None]
