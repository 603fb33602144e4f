"""Tiny chat models made on the spot: random weights, a tokenizer trained here, real templates.

They are built from ``tokenizers``, ``sentencepiece``, ``safetensors`` and ``numpy``
alone, so the demo needs neither torch nor a download, and takes seconds.

- ``tiny-qwen2``: Qwen2 architecture, byte-level BPE, the Qwen2.5 ChatML template.
- ``learning-qwen2``: Qwen2 too, 128 wide with an untied output layer (as the 7B has), a
  byte-level BPE of 320 pieces and unit-scale random weights; its LoRA learns the
  counselling style in a short CPU run (:func:`build_learning_qwen2`).
- ``tiny-llama3``: Llama architecture, SentencePiece, the Llama-3 template; the GGUF
  converter accepts it, since it recognises SentencePiece vocabularies.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
LLAMA_SPECIALS = ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
LLAMA_BOS, LLAMA_EOS = "<|begin_of_text|>", "<|end_of_text|>"

# Qwen2's pre-tokenizer split: letters, single digits, punctuation runs, whitespace.
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


@dataclass(frozen=True)
class TinyShape:
    """Layer sizes of a tiny model."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int


QWEN_SHAPE = TinyShape(hidden=64, intermediate=176, layers=2, heads=4, kv_heads=2)
# The learning demo (a Qwen2 too): wide enough for its LoRA to pick up the counselling style,
# small enough for a CPU run of a minute or two (see core/demo/learning.py).
LEARNER_SHAPE = TinyShape(hidden=128, intermediate=352, layers=2, heads=4, kv_heads=2)
# About 60 merges over the 256 bytes: short words merge, most characters stay three byte
# pieces whose second and third are easy to predict, so a short run halves the loss.
LEARNER_VOCAB = 320
# 256-wide rows let llama.cpp's k-quants (blocks of 256) apply to every matrix.
LLAMA_SHAPE = TinyShape(hidden=256, intermediate=512, layers=2, heads=4, kv_heads=4)


def chat_template(name: str) -> str:
    return (TEMPLATES_DIR / f"{name}.jinja").read_text(encoding="utf-8").rstrip("\n")


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _weights(
    shape: TinyShape, vocab: int, *, qkv_bias: bool, tied: bool, seed: int, unit_scale: bool = False
) -> dict[str, object]:
    import numpy as np

    rng = np.random.default_rng(seed)
    head_dim = shape.hidden // shape.heads
    kv = shape.kv_heads * head_dim
    # For a model that must learn (``unit_scale``), the usual 0.02 is far too small at this
    # width: the signal fades layer by layer, and with the final RMSNorm fixing |h| at
    # sqrt(hidden) a logit can move by at most 0.02 * hidden, so the model can never say a
    # word with confidence and no LoRA can teach it to. Scaling every matrix by
    # 1/sqrt(fan-in) keeps activations of unit size and gives the output rows a range of
    # sqrt(hidden) nats. The quick demo models keep 0.02: they only have to run.
    row_std = shape.hidden**-0.5 if unit_scale else 0.02

    def normal(*dims: int, std: float | None = None) -> object:
        scale = std if std is not None else (dims[-1] ** -0.5 if unit_scale else 0.02)
        return (rng.standard_normal(dims) * scale).astype(np.float32)

    tensors: dict[str, object] = {"model.embed_tokens.weight": normal(vocab, shape.hidden, std=row_std)}
    for layer in range(shape.layers):
        prefix = f"model.layers.{layer}"
        tensors[f"{prefix}.self_attn.q_proj.weight"] = normal(shape.hidden, shape.hidden)
        tensors[f"{prefix}.self_attn.k_proj.weight"] = normal(kv, shape.hidden)
        tensors[f"{prefix}.self_attn.v_proj.weight"] = normal(kv, shape.hidden)
        tensors[f"{prefix}.self_attn.o_proj.weight"] = normal(shape.hidden, shape.hidden)
        if qkv_bias:
            tensors[f"{prefix}.self_attn.q_proj.bias"] = np.zeros(shape.hidden, np.float32)
            tensors[f"{prefix}.self_attn.k_proj.bias"] = np.zeros(kv, np.float32)
            tensors[f"{prefix}.self_attn.v_proj.bias"] = np.zeros(kv, np.float32)
        tensors[f"{prefix}.mlp.gate_proj.weight"] = normal(shape.intermediate, shape.hidden)
        tensors[f"{prefix}.mlp.up_proj.weight"] = normal(shape.intermediate, shape.hidden)
        tensors[f"{prefix}.mlp.down_proj.weight"] = normal(shape.hidden, shape.intermediate)
        tensors[f"{prefix}.input_layernorm.weight"] = np.ones(shape.hidden, np.float32)
        tensors[f"{prefix}.post_attention_layernorm.weight"] = np.ones(shape.hidden, np.float32)
    tensors["model.norm.weight"] = np.ones(shape.hidden, np.float32)
    if not tied:
        tensors["lm_head.weight"] = normal(vocab, shape.hidden, std=row_std)
    return tensors


def _save_weights(directory: Path, tensors: dict[str, object]) -> None:
    from safetensors.numpy import save_file

    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})  # type: ignore[arg-type]


def build_tiny_qwen2(
    directory: Path,
    corpus: Sequence[str],
    *,
    vocab_size: int = 4000,
    seed: int = 0,
    shape: TinyShape | None = None,
    tied: bool = True,
    unit_scale: bool = False,
) -> Path:
    """A Qwen2-architecture chat model with a byte-level BPE tokenizer trained on ``corpus``."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    tokenizer.add_special_tokens(list(QWEN_SPECIALS))
    tokenizer.save(str(directory / "tokenizer.json"))
    tokenizer.model.save(str(directory))  # vocab.json + merges.txt, as Qwen ships them

    ids: dict[str, int] = {}
    for token in QWEN_SPECIALS:
        index = tokenizer.token_to_id(token)
        assert index is not None, f"special token {token} missing after training"
        ids[token] = index
    real_vocab = tokenizer.get_vocab_size()
    padded_vocab = (real_vocab + 63) // 64 * 64  # Qwen pads its embedding rows too
    _write_json(
        directory / "tokenizer_config.json",
        {
            "tokenizer_class": "Qwen2Tokenizer",
            "model_max_length": 32768,
            "bos_token": None,
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "unk_token": None,
            "errors": "replace",
            "add_prefix_space": False,
            "clean_up_tokenization_spaces": False,
            "split_special_tokens": False,
            "added_tokens_decoder": {
                str(index): {"content": token, "special": True, "normalized": False, "lstrip": False, "rstrip": False, "single_word": False}
                for token, index in ids.items()
            },
            "chat_template": chat_template("qwen2_5"),
        },
    )
    _write_json(directory / "special_tokens_map.json", {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    shape = shape or QWEN_SHAPE
    _write_json(
        directory / "config.json",
        {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "hidden_size": shape.hidden,
            "intermediate_size": shape.intermediate,
            "num_hidden_layers": shape.layers,
            "num_attention_heads": shape.heads,
            "num_key_value_heads": shape.kv_heads,
            "max_position_embeddings": 32768,
            "max_window_layers": shape.layers,
            "use_sliding_window": False,
            "sliding_window": 32768,
            "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0,
            "hidden_act": "silu",
            "initializer_range": 0.02,
            "attention_dropout": 0.0,
            "tie_word_embeddings": tied,
            "vocab_size": padded_vocab,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "torch_dtype": "float32",
            "use_cache": True,
        },
    )
    _write_generation_config(directory, bos=ids["<|endoftext|>"], eos=[ids["<|im_end|>"], ids["<|endoftext|>"]], pad=ids["<|endoftext|>"])
    _save_weights(directory, _weights(shape, padded_vocab, qkv_bias=True, tied=tied, seed=seed, unit_scale=unit_scale))
    return directory


def build_learning_qwen2(directory: Path, corpus: Sequence[str]) -> Path:
    """The demo model whose LoRA visibly learns: see :data:`LEARNER_SHAPE` and :data:`LEARNER_VOCAB`."""
    return build_tiny_qwen2(directory, corpus, vocab_size=LEARNER_VOCAB, shape=LEARNER_SHAPE, tied=False, unit_scale=True)


def build_tiny_llama3(
    directory: Path, corpus: Iterable[str], *, vocab_size: int = 3000, seed: int = 1, shape: TinyShape | None = None
) -> Path:
    """A Llama-architecture chat model with a SentencePiece tokenizer and the Llama-3 template."""
    import sentencepiece as spm

    directory.mkdir(parents=True, exist_ok=True)
    lines = [line for text in corpus for line in text.splitlines() if line.strip()]
    # SentencePiece needs a piece for every character, plus 256 byte pieces and the specials.
    needed = len(set("".join(lines))) + 256 + len(LLAMA_SPECIALS) + 3
    model_bytes = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model_bytes,
        model_type="bpe",
        vocab_size=max(vocab_size, needed + 64),
        hard_vocab_limit=False,
        character_coverage=0.9995,
        byte_fallback=True,
        split_digits=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        bos_piece=LLAMA_BOS,
        eos_piece=LLAMA_EOS,
        user_defined_symbols=list(LLAMA_SPECIALS),
        num_threads=2,
        minloglevel=2,
    )
    (directory / "tokenizer.model").write_bytes(model_bytes.getvalue())
    processor = spm.SentencePieceProcessor(model_proto=model_bytes.getvalue())
    vocab = processor.get_piece_size()
    eot = processor.piece_to_id("<|eot_id|>")
    _write_json(
        directory / "tokenizer_config.json",
        {
            "tokenizer_class": "LlamaTokenizer",
            "model_max_length": 8192,
            "bos_token": LLAMA_BOS,
            "eos_token": "<|eot_id|>",
            "unk_token": "<unk>",
            "pad_token": None,
            "add_bos_token": True,
            "add_eos_token": False,
            "legacy": False,
            # No space before the first word of a text: swift's llama3 template tokenises each
            # turn's content on its own, and SentencePiece's dummy prefix put a space after every
            # `<|end_header_id|>\n\n` of an answer, so the model failed its own parity check.
            # Llama 3's byte-level tokenizer never adds one either.
            "add_prefix_space": False,
            "clean_up_tokenization_spaces": False,
            "added_tokens_decoder": {
                str(processor.piece_to_id(token)): {"content": token, "special": True, "normalized": False, "lstrip": False, "rstrip": False, "single_word": False}
                for token in (LLAMA_BOS, LLAMA_EOS, *LLAMA_SPECIALS)
            },
            "chat_template": chat_template("llama3"),
        },
    )
    _write_json(directory / "special_tokens_map.json", {"bos_token": LLAMA_BOS, "eos_token": "<|eot_id|>", "unk_token": "<unk>"})
    shape = shape or LLAMA_SHAPE
    _write_json(
        directory / "config.json",
        {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": shape.hidden,
            "intermediate_size": shape.intermediate,
            "num_hidden_layers": shape.layers,
            "num_attention_heads": shape.heads,
            "num_key_value_heads": shape.kv_heads,
            "max_position_embeddings": 8192,
            "rms_norm_eps": 1e-5,
            "rope_theta": 500000.0,
            "hidden_act": "silu",
            "initializer_range": 0.02,
            "attention_bias": False,
            "mlp_bias": False,
            "tie_word_embeddings": False,
            "vocab_size": vocab,
            "bos_token_id": 1,
            "eos_token_id": [2, eot],
            "torch_dtype": "float32",
            "use_cache": True,
        },
    )
    _write_generation_config(directory, bos=1, eos=[eot, 2], pad=None)
    _save_weights(directory, _weights(shape, vocab, qkv_bias=False, tied=False, seed=seed))
    return directory


def _write_generation_config(directory: Path, *, bos: int, eos: list[int], pad: int | None) -> None:
    config: dict[str, object] = {
        "bos_token_id": bos,
        "eos_token_id": eos,
        "do_sample": True,
        "temperature": 0.7,
        "top_p": 0.8,
        "repetition_penalty": 1.05,
    }
    if pad is not None:
        config["pad_token_id"] = pad
    _write_json(directory / "generation_config.json", config)
