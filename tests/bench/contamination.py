"""The contamination check's speed on a large training file: prints figures, passes nothing.

Writes a synthetic 100,000-line ShareGPT training file (a system turn, a client turn and a
counsellor turn per line, Chinese text drawn from a shared vocabulary of words, so common
n-grams recur across lines as they do in real dialogues) and a 500-prompt set, then plants
copies of some prompts in the training file: exact copies (with a full-width space or an
extra newline that normalisation must see through) and near-duplicates (a greeting
before, a few characters changed). The timed part is what the check does per dataset
file: index the prompts and scan the file the way swift reads it
(:func:`core.arena.contamination.scan_dataset`). The target is at most 5 s.

    .venv/bin/python tests/bench/contamination.py [--lines 100000] [--prompts 500] [--planted 40]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.arena.contamination import scan_dataset  # noqa: E402
from core.arena.near_duplicates import PromptIndex  # noqa: E402

SYSTEM = "你是一位温暖、专业的心理咨询师，擅长倾听与共情。"
TARGET_SECONDS = 5.0


def vocabulary(rng: random.Random, words: int = 400) -> list[str]:
    chars = [chr(code) for code in range(0x4E00, 0x4E00 + 1500)]
    return ["".join(rng.choices(chars, k=rng.randint(1, 3))) for _ in range(words)]


def sentence(rng: random.Random, words: list[str], length: int) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < length:
        parts.append(rng.choice(words))
        if rng.random() < 0.15:
            parts.append(rng.choice("，。？"))
    return "".join(parts)


def changed(rng: random.Random, text: str, changes: int) -> str:
    chars = list(text)
    for position in rng.sample(range(len(chars)), changes):
        chars[position] = "嗯"
    return "".join(chars)


def build(folder: Path, lines: int, prompts: int, planted: int, seed: int) -> tuple[Path, list[str], dict[int, str]]:
    """The training file, the prompt texts, and which prompt was planted how."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    texts = [sentence(rng, words, rng.randint(30, 70)) for _ in range(prompts)]
    plants = dict.fromkeys(rng.sample(range(prompts), planted), "")
    for number, index in enumerate(plants):
        plants[index] = "exact" if number % 2 == 0 else "near"
    positions = dict(zip(rng.sample(range(lines), planted), plants, strict=True))
    path = folder / "train.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for line in range(lines):
            client = sentence(rng, words, rng.randint(30, 90))
            if line in positions:
                index = positions[line]
                prompt = texts[index]
                client = (prompt.replace("，", "，\u3000", 1) + "\n" if plants[index] == "exact"
                          else "老师您好，" + changed(rng, prompt, 3))
            record = {"conversations": [{"from": "system", "value": SYSTEM}, {"from": "human", "value": client},
                                        {"from": "gpt", "value": sentence(rng, words, rng.randint(60, 140))}]}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path, texts, plants


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--planted", type=int, default=40)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path, texts, plants = build(Path(folder), args.lines, args.prompts, args.planted, args.seed)
        print(f"training file: {path.stat().st_size / 1e6:.1f} MB, {args.lines:,} lines; {args.prompts} prompts, "
              f"{sum(k == 'exact' for k in plants.values())} planted exact, "
              f"{sum(k == 'near' for k in plants.values())} planted near")
        ids = [f"p{index:04d}" for index in range(len(texts))]
        start = time.perf_counter()
        index = PromptIndex(texts)
        records, matches = scan_dataset(path, index, ids)
        seconds = time.perf_counter() - start
    found = {int(match.prompt_id[1:]): match.kind for match in matches}
    right = sum(found.get(prompt) == kind for prompt, kind in plants.items())
    stray = sorted(set(found) - set(plants))
    print(f"records read {records:,}; matched {len(found)} prompts: {right} planted ones with the planted kind, "
          f"{len(stray)} never planted{' ' + str(stray[:10]) if stray else ''}; target <= {TARGET_SECONDS:.0f} s")
    print(f"contamination: {seconds:.2f} s for {args.lines:,} lines x {args.prompts} prompts, "
          f"found {right} of {len(plants)} planted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
