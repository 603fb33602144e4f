"""Blinding that holds (issue 17): the recorded reveal policy, answers without special tokens, stop strings."""

from __future__ import annotations

import json
from pathlib import Path

from core.arena.controller import ArenaController
from core.arena.prompts import register_prompt_set
from core.arena.sessions import (
    create_session,
    get_response,
    get_session,
    opening_messages,
    session_items,
    store_response,
)
from core.base.workspace import Workspace
from core.models import register_base, register_endpoint
from core.models.client import ChatRequest, GenerationParams, StreamStats
from core.models.stops import declared_stops, template_stops
from core.models.targets import connect_models, stop_strings
from core.results.export import export
from tests.helpers.old_databases import database_before

STATS = StreamStats(0.1, 12, 30.0, "stop", 0.5)


def _before_reveal(path: Path) -> None:
    """A database one migration short of the reveal policy, with a session and a leaky answer."""
    connection = database_before(path, "ADD COLUMN reveal")
    stamp = "2026-01-01T00:00:00Z"
    connection.executescript(f"""
        INSERT INTO prompt_sets VALUES ('set1', 'set1', 'file', 'abc', '{stamp}');
        INSERT INTO sessions (id, name, prompt_set_id, model_a, model_b, params, params_key, seed, side_seed, rubric,
                              created_at)
            VALUES ('s-old', 'a vs b', 'set1', 'a', 'b', '{{}}', 'k', 1234, 77, 'default', '{stamp}');
        INSERT INTO responses (id, context_key, model_id, params_key, seed, messages, text, created_at)
            VALUES (1, 'c', 'a', 'k', 1234, '[]', '我在听。<|endoftext|>', '{stamp}'),
                   (2, 'c', 'b', 'k', 1234, '[]', '我在听。', '{stamp}');
    """)
    connection.close()


def test_old_sessions_keep_the_per_item_reveal_they_were_rated_under_and_leaky_answers_are_flagged(
        tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.make_folders()
    _before_reveal(workspace.db_path)
    assert get_session(workspace, "s-old").reveal == "item"  # opening the database migrates it
    assert get_response(workspace, 1).defects == ("special_tokens",)
    assert get_response(workspace, 2).defects == ()
    assert get_response(workspace, 1).text == "我在听。<|endoftext|>"  # stored as the model said it


def test_a_new_session_reveals_at_the_end_and_a_stored_leaky_answer_is_a_defect(
        workspace: Workspace, tmp_path: Path) -> None:
    a = register_endpoint(workspace, "model-a", "http://127.0.0.1:9/v1").id
    b = register_endpoint(workspace, "model-b", "http://127.0.0.1:9/v2").id
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "q1", "prompt": "睡不着。"}, ensure_ascii=False) + "\n", encoding="utf-8")
    set_id = register_prompt_set(workspace, prompts).id
    session = create_session(workspace, set_id, a, b)
    assert session.reveal == "end" and get_session(workspace, session.id).reveal == "end"
    assert create_session(workspace, set_id, a, b, reveal="never").reveal == "never"
    item = session_items(workspace, session.id)[0]
    leaky = store_response(workspace, session, a, opening_messages(item), "先休息。<|im_end|>\n<|im_start|>user", STATS)
    clean = store_response(workspace, session, b, opening_messages(item), "先休息。", STATS)
    assert leaky.defects == ("special_tokens",) and clean.defects == ()


def _folder(root: Path, tokenizer_config: dict[str, object], generation_config: dict[str, object]) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text("{}", encoding="utf-8")
    (root / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    (root / "generation_config.json").write_text(json.dumps(generation_config), encoding="utf-8")
    return root


def test_stop_strings_are_every_end_of_turn_token_the_template_and_the_configs_declare(
        workspace: Workspace, tmp_path: Path) -> None:
    assert template_stops("qwen2_5") == ("<|im_end|>", "<|endoftext|>")
    assert template_stops("llama3_2") == template_stops("llama3") == ("<|eot_id|>", "<|end_of_text|>")
    assert template_stops("llama") == () and template_stops(None) == ()

    # As the demo's tiny models write them: one eos_token, and a list of eos ids in generation_config.
    qwen = _folder(tmp_path / "qwen", {"eos_token": "<|im_end|>", "added_tokens_decoder": {
        "0": {"content": "<|endoftext|>"}, "1": {"content": "<|im_start|>"}, "2": {"content": "<|im_end|>"}}},
        {"eos_token_id": [2, 0]})
    llama = _folder(tmp_path / "llama", {"eos_token": {"content": "<|eot_id|>"}, "added_tokens_decoder": {
        "2": {"content": "<|end_of_text|>"}, "7": {"content": "<|eot_id|>"}}}, {"eos_token_id": [7, 2]})
    assert declared_stops(qwen) == ("<|im_end|>", "<|endoftext|>")
    assert declared_stops(llama) == ("<|eot_id|>", "<|end_of_text|>")

    qwen_entry = register_base(workspace, qwen, name="qwen-local", template="qwen2_5")
    llama_entry = register_base(workspace, llama, name="llama-local")  # no template named: the folder speaks
    endpoint = register_endpoint(workspace, "far-away", "http://127.0.0.1:9/v1")
    assert stop_strings(workspace, qwen_entry) == ("<|im_end|>", "<|endoftext|>")
    assert stop_strings(workspace, llama_entry) == ("<|eot_id|>", "<|end_of_text|>")
    assert connect_models(workspace, [endpoint.id])[0].stop == ()  # an unknown template: the server's own

    body = ChatRequest([{"role": "user", "content": "hi"}], GenerationParams(), "m", stop=("<|im_end|>",)).payload()
    assert body["stop"] == ["<|im_end|>"]
    assert "stop" not in ChatRequest([{"role": "user", "content": "hi"}], GenerationParams(), "m").payload()


def test_an_export_shows_the_answer_without_special_tokens_and_names_the_defect(
        workspace: Workspace, tmp_path: Path) -> None:
    a = register_endpoint(workspace, "model-a", "http://127.0.0.1:9/v1").id
    b = register_endpoint(workspace, "model-b", "http://127.0.0.1:9/v2").id
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "q1", "prompt": "睡不着。"}, ensure_ascii=False) + "\n", encoding="utf-8")
    session = create_session(workspace, register_prompt_set(workspace, prompts).id, a, b, reveal="item")
    item = session_items(workspace, session.id)[0]
    texts = {a: "先休息一下。<|im_end|>\n<|im_start|>user\n好", b: "慢慢说。"}
    for model_id, text in texts.items():
        store_response(workspace, session, model_id, opening_messages(item), text, STATS)
    controller = ArenaController.open(workspace, session.id, "r1")
    for pending in controller.start_turn():
        stored = controller.answers.stored_answer(pending)
        assert stored is not None and controller.answers.accept(pending, stored)
    for key in "43s54sa":
        controller.press(key)
    controller.submit()
    controller.close()

    out = tmp_path / "ratings.jsonl"
    export(workspace, "ratings", out, format="jsonl")
    rows = {row["model_id"]: row for row in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert rows[a]["response"] == "先休息一下。" and rows[a]["defects"] == ["special_tokens"]
    assert rows[b]["response"] == "慢慢说。" and rows[b]["defects"] == []
    battles = tmp_path / "battles.jsonl"
    export(workspace, "battles", battles, format="jsonl")
    assert "<|" not in battles.read_text(encoding="utf-8")
