"""The dataset check: layouts, bad lines with their numbers, encodings, Dolly conversion and token lengths."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from core.base.errors import MhbenchError
from core.train.datasets import (
    DatasetIssue,
    LengthStats,
    check_dataset,
    check_profile_datasets,
    convert_dataset,
    detect_encoding,
    detect_format,
    read_records,
    to_swift_messages,
    token_lengths,
    validate_record,
)

SHAREGPT = {
    "conversations": [
        {"from": "system", "value": "你是一位温暖的心理咨询师。"},
        {"from": "human", "value": "我最近总是睡不着。"},
        {"from": "gpt", "value": "听起来你这段时间很辛苦。能说说睡前都在想什么吗？"},
    ]
}
MESSAGES = {
    "messages": [
        {"role": "user", "content": "我和室友吵架了。"},
        {"role": "assistant", "content": "发生了什么让你们起了争执？"},
        {"role": "user", "content": "她总是很晚回来。"},
        {"role": "assistant", "content": "作息不同确实容易积累不满。"},
    ]
}
ALPACA = {"instruction": "安慰一位考试失利的学生", "input": "我这次考砸了", "output": "一次考试并不能定义你。"}
DOLLY = {
    "instruction": "根据材料，给来访者一句回应",
    "context": "来访者说：工作压力很大，每天加班。",
    "response": "长期加班真的很消耗人，你已经撑了很久了。",
    "category": "open_qa",
}
QUERY_RESPONSE = {
    "system": "你是心理咨询助手。",
    "history": [["你好", "你好，今天想聊些什么？"]],
    "query": "我有点焦虑",
    "response": "愿意多说一点是什么让你焦虑吗？",
}
NOT_ALTERNATING = {
    "conversations": [
        {"from": "human", "value": "你好"},
        {"from": "human", "value": "在吗"},
        {"from": "gpt", "value": "我在。"},
    ]
}


def _jsonl(path: Path, lines: list[Any]) -> Path:
    """Write objects as JSON lines; a str is written verbatim (to make broken lines)."""
    text = "".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.demo import training_corpus
    from core.demo.tinymodels import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("models") / "tiny-qwen2", training_corpus())


# --- layouts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (SHAREGPT, "sharegpt"),
        (MESSAGES, "messages"),
        (ALPACA, "alpaca"),
        ({"instruction": "x", "output": "y"}, "alpaca"),
        (DOLLY, "dolly"),
        (QUERY_RESPONSE, "query_response"),
        ({"query": "q", "response": "r"}, "query_response"),
        ({"prompt_text": "x", "answer_text": "y"}, "unknown"),
    ],
)
def test_detect_format(record: dict[str, Any], expected: str) -> None:
    assert detect_format(record) == expected
    if expected != "unknown":
        assert validate_record(record, expected) is None


@pytest.mark.parametrize(
    ("record", "fmt", "expected"),
    [
        ({"conversations": []}, "sharegpt", "empty conversation"),
        (NOT_ALTERNATING, "sharegpt", "do not alternate"),
        ({"messages": [{"role": "user", "content": "在吗"}]}, "messages", "assistant must answer last"),
        ({"messages": [{"role": "assistant", "content": "你好"}]}, "messages", "starts with the user"),
        (
            {"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "嗯"}]},
            "messages",
            "empty text",
        ),
        (
            {"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "嗯"}]},
            "messages",
            "not a string",
        ),
        ({"messages": [{"role": "coach", "content": "x"}]}, "messages", "unknown role 'coach'"),
        ({"messages": "hello"}, "messages", "not JSON"),
        ({"instruction": "x", "output": ""}, "alpaca", '"output" is empty'),
        ({"instruction": "x", "context": "", "response": None}, "dolly", '"response" is missing'),
        ({"query": "q", "response": "r", "history": [["only one"]]}, "query_response", "history"),
        ({"foo": 1}, "unknown", "unrecognised record layout (keys: foo)"),
    ],
)
def test_validate_record_names_the_problem(record: dict[str, Any], fmt: str, expected: str) -> None:
    problem = validate_record(record, fmt)
    assert problem is not None and expected in problem


def test_to_swift_messages_for_every_layout() -> None:
    assert to_swift_messages(SHAREGPT, "sharegpt")["messages"] == [
        {"role": "system", "content": "你是一位温暖的心理咨询师。"},
        {"role": "user", "content": "我最近总是睡不着。"},
        {"role": "assistant", "content": "听起来你这段时间很辛苦。能说说睡前都在想什么吗？"},
    ]
    assert to_swift_messages(MESSAGES, "messages") == MESSAGES
    # Alpaca joins instruction and input with one newline, as swift's AlpacaPreprocessor does.
    assert to_swift_messages(ALPACA, "alpaca")["messages"][0] == {
        "role": "user",
        "content": "安慰一位考试失利的学生\n我这次考砸了",
    }
    assert (
        to_swift_messages({"instruction": "", "input": "只有输入", "output": "y"}, "alpaca")["messages"][0]["content"]
        == "只有输入"
    )
    assert [m["role"] for m in to_swift_messages(QUERY_RESPONSE, "query_response")["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    dolly = to_swift_messages(DOLLY, "dolly")["messages"]
    assert dolly == [
        {"role": "user", "content": DOLLY["instruction"] + "\n\n" + DOLLY["context"]},
        {"role": "assistant", "content": DOLLY["response"]},
    ]
    no_context = to_swift_messages({**DOLLY, "context": ""}, "dolly")["messages"]
    assert no_context[0]["content"] == DOLLY["instruction"]
    with pytest.raises(MhbenchError):
        to_swift_messages({"foo": 1}, "unknown")


# --- reading and bad lines ------------------------------------------------------------------------


def test_invalid_lines_reported_with_their_numbers(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "mixed.jsonl",
        [SHAREGPT, SHAREGPT, '{"conversations": [', "", "[1, 2, 3]", SHAREGPT, NOT_ALTERNATING, SHAREGPT],
    )
    records, issues = read_records(path)
    assert [line for line, _ in records] == [1, 2, 6, 7, 8]
    assert [issue.line for issue in issues] == [3, 5]

    report = check_dataset(path)
    assert report.format == "sharegpt"
    assert report.samples == 4
    assert [issue.line for issue in report.invalid] == [3, 5, 7]
    assert "not valid JSON" in report.invalid[0].problem
    assert "not an object" in report.invalid[1].problem
    assert "alternate" in report.invalid[2].problem
    assert str(report.invalid[2]).startswith(f"{path}:7: ") and " Fix: " in str(report.invalid[2])
    assert report.ok
    assert report.lengths is None and "not measured" in report.summary()


def test_record_of_another_layout_in_the_file_is_invalid(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "d.jsonl", [MESSAGES, MESSAGES, ALPACA, {"foo": "bar"}])
    report = check_dataset(path)
    assert report.format == "messages" and report.samples == 2
    assert [(issue.line, "alpaca" in issue.problem) for issue in report.invalid] == [(3, True), (4, False)]


def test_json_list_and_csv_files(tmp_path: Path) -> None:
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps([ALPACA, ALPACA, 7], ensure_ascii=False, indent=1), encoding="utf-8")
    records, issues = read_records(listing)
    assert len(records) == 2 and len(issues) == 1 and "not a JSON object" in issues[0].problem
    assert records[0][0] == 2  # the first object starts on the second line of the pretty-printed list

    table = tmp_path / "alpaca.csv"
    table.write_text('instruction,input,output\n安慰我,,你辛苦了\n"多行\n指令",输入,回答\n,,\n', encoding="utf-8")
    report = check_dataset(table)
    assert report.format == "alpaca"
    assert report.samples == 2
    assert [issue.line for issue in report.invalid] == [5]


def test_unknown_layout_is_an_error(tmp_path: Path) -> None:
    report = check_dataset(_jsonl(tmp_path / "odd.jsonl", [{"prompt_text": "a", "answer_text": "b"}]))
    assert report.format == "unknown" and not report.ok
    assert report.error is not None and "layout" in str(report.error)
    with pytest.raises(MhbenchError):
        convert_dataset(tmp_path / "odd.jsonl", tmp_path / "out")


def test_missing_file_is_a_report_error(tmp_path: Path) -> None:
    report = check_dataset(tmp_path / "nope.jsonl")
    assert not report.ok and report.error is not None and "does not exist" in str(report.error)


# --- encodings ----------------------------------------------------------------------------------


def test_utf8_with_bom_reads(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_text(json.dumps(MESSAGES, ensure_ascii=False) + "\n", encoding="utf-8-sig")
    assert detect_encoding(path) == "utf-8-sig"
    report = check_dataset(path)
    assert report.encoding == "utf-8-sig" and report.samples == 1 and not report.invalid


def test_gbk_file_is_named_with_the_iconv_fix(tmp_path: Path) -> None:
    path = tmp_path / "gbk-dialogues.jsonl"
    ascii_line = json.dumps({"query": "hi", "response": "hello"}) + "\n"  # the same bytes in both encodings
    chinese = json.dumps(MESSAGES, ensure_ascii=False) + "\n"
    path.write_bytes((ascii_line + chinese).encode("gbk"))
    with pytest.raises(MhbenchError) as caught:
        detect_encoding(path)
    message = str(caught.value)
    assert "GBK" in message
    assert "gbk-dialogues.jsonl" in message
    assert "iconv -f GB18030 -t UTF-8" in message
    assert caught.value.line == 2 and "offset" in message

    report = check_dataset(path)
    assert not report.ok and report.encoding == "unreadable" and report.invalid[0].line == 2


def test_utf8_head_and_gbk_tail_is_called_mixed(tmp_path: Path) -> None:
    path = tmp_path / "joined.jsonl"
    line = json.dumps(MESSAGES, ensure_ascii=False) + "\n"
    path.write_bytes(line.encode("utf-8") + line.encode("gbk"))
    with pytest.raises(MhbenchError) as caught:
        detect_encoding(path)
    assert "mixes encodings" in str(caught.value) and "tail -n +2" in str(caught.value) and caught.value.line == 2


def test_bytes_that_are_neither_utf8_nor_gbk(tmp_path: Path) -> None:
    path = tmp_path / "binary.jsonl"
    path.write_bytes(b'{"query": "a", "response": "b"}\n\xff\xfe\xff')
    with pytest.raises(MhbenchError) as caught:
        detect_encoding(path)
    assert "not UTF-8" in str(caught.value) and "GBK/GB18030" in str(caught.value) and caught.value.line == 2


# --- conversion ---------------------------------------------------------------------------------


def test_dolly_converts_to_messages_with_a_note(tmp_path: Path) -> None:
    second = {**DOLLY, "context": "", "instruction": "说一句鼓励的话"}
    source = _jsonl(tmp_path / "dolly.jsonl", [DOLLY, "{broken", second, {**DOLLY, "response": ""}])
    out = tmp_path / "converted"

    report = check_dataset(source, convert_dir=out)
    assert report.format == "dolly" and report.samples == 2
    assert report.converted_to == out / "dolly.swift-messages.jsonl"
    rows = [json.loads(line) for line in report.converted_to.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["messages"][0] == {"role": "user", "content": DOLLY["instruction"] + "\n\n" + DOLLY["context"]}
    assert rows[0]["messages"][1] == {"role": "assistant", "content": DOLLY["response"]}
    assert rows[1]["messages"][0]["content"] == "说一句鼓励的话"
    raw = report.converted_to.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and "\\u" not in raw.decode("utf-8")
    assert DOLLY["response"].encode("utf-8") in raw

    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    assert report.conversion_note is not None and sha in report.conversion_note
    assert "kept 2" in report.conversion_note and "skipped 2" in report.conversion_note
    meta = json.loads((out / "dolly.swift-messages.conversion.json").read_text(encoding="utf-8"))
    assert meta["source_sha256"] == sha
    assert (meta["kept"], meta["skipped"], meta["skipped_lines"]) == (2, 2, [2, 4])
    assert meta["source_format"] == "dolly" and meta["converted_at"].endswith("Z")

    # The converted file is itself a clean messages dataset, which swift reads natively.
    again = check_dataset(report.converted_to)
    assert again.format == "messages" and again.samples == 2 and not again.invalid and again.converted_to is None

    path, note = convert_dataset(source, tmp_path / "direct")
    assert path.name == "dolly.swift-messages.jsonl" and sha in note


def test_dolly_without_convert_dir_warns_about_context(tmp_path: Path) -> None:
    report = check_dataset(_jsonl(tmp_path / "dolly.jsonl", [DOLLY]))
    assert report.converted_to is None
    assert any("context" in note for note in report.notes)


def test_native_layouts_are_not_converted(tmp_path: Path) -> None:
    for name, record in (("a", ALPACA), ("q", QUERY_RESPONSE), ("s", SHAREGPT), ("m", MESSAGES)):
        report = check_dataset(_jsonl(tmp_path / f"{name}.jsonl", [record]), convert_dir=tmp_path / "out")
        assert report.samples == 1 and report.converted_to is None
    assert not (tmp_path / "out").exists()


# --- token lengths ------------------------------------------------------------------------------


def test_length_stats_and_histogram() -> None:
    stats = LengthStats.from_lengths([5, 1, 9, 3, 7, 20], max_length=8)
    assert (stats.count, stats.min, stats.max, stats.p50, stats.p90) == (6, 1, 20, 5, 20)
    assert (stats.over_max_length, round(stats.over_share, 3)) == (2, 0.333)
    histogram = stats.histogram(4)
    assert [bound for bound, _ in histogram] == [5, 10, 15, 20]
    assert [count for _, count in histogram] == [3, 2, 0, 1]
    assert len(stats.chart(bins=4)) == 4
    assert LengthStats.from_lengths([], 8).count == 0


def test_token_lengths_with_the_models_own_template(tmp_path: Path, tiny_qwen: Path) -> None:
    from transformers import AutoTokenizer

    short = {"messages": [{"role": "user", "content": "嗨"}, {"role": "assistant", "content": "你好"}]}
    records = [short, MESSAGES, to_swift_messages(SHAREGPT, "sharegpt"), to_swift_messages(DOLLY, "dolly")]
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_qwen))
    # Independently: render the template to text, then encode the text.
    expected = [
        len(
            tokenizer(tokenizer.apply_chat_template(r["messages"], tokenize=False), add_special_tokens=False)[
                "input_ids"
            ]
        )
        for r in records
    ]
    max_length = 16
    stats = token_lengths(records, tiny_qwen, max_length)
    assert stats.count == 4 and stats.min > 0
    assert sorted(stats.lengths) == sorted(expected) and list(stats.lengths) == expected
    assert stats.p50 <= stats.p90 <= stats.max == max(expected)
    assert stats.over_max_length == sum(length > max_length for length in expected)
    assert stats.over_max_length == 4  # the Qwen template's default system prompt alone is longer than 16

    generous = max(expected)
    assert token_lengths([r["messages"] for r in records], tiny_qwen, generous).over_max_length == 0

    report = check_dataset(
        _jsonl(tmp_path / "m.jsonl", [MESSAGES, MESSAGES]), tokenizer_dir=tiny_qwen, max_length=max_length
    )
    assert report.lengths is not None and report.lengths.count == 2 and report.lengths.over_max_length == 2
    assert any("deletes them" in note for note in report.notes)


def test_profile_datasets(tmp_path: Path, tiny_qwen: Path) -> None:
    from core.profiles import validate_profile

    data = _jsonl(tmp_path / "train.jsonl", [SHAREGPT, SHAREGPT])
    profile = validate_profile(
        {
            "name": "t",
            "model": {"id": str(tiny_qwen), "hub": "local", "template": "qwen2_5"},
            "train": {
                "dataset": [str(data), "AI-ModelScope/alpaca-gpt4-data-zh#500", "missing/file.jsonl"],
                "max_length": 4096,
            },
        },
        tmp_path / "t.toml",
    )
    reports = check_profile_datasets(profile, convert_dir=tmp_path / "conv", base_dir=tmp_path)
    assert len(reports) == 3
    assert reports[0].ok and reports[0].lengths is not None and reports[0].lengths.max_length == 4096
    assert reports[1].skipped is not None and reports[1].ok and "not checked" in reports[1].summary()
    assert not reports[2].ok and "does not exist" in reports[2].summary()


def test_bundled_demo_dataset_checks_clean() -> None:
    from core.demo import DIALOGUES_FILE

    report = check_dataset(DIALOGUES_FILE)
    assert report.format == "sharegpt"
    assert report.encoding == "utf-8"
    assert report.samples >= 60
    assert report.invalid == []
    assert report.ok


def test_issue_prints_on_one_line() -> None:
    issue = DatasetIssue(Path("d.jsonl"), 3, "not valid JSON.", "repair the line.")
    assert str(issue) == "d.jsonl:3: not valid JSON. Fix: repair the line."
