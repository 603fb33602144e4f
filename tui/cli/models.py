"""The model commands of ``mhbench``: catalog, merge, GGUF, servers, parity and a quick chat.

Like the rest of :mod:`tui.cli`, nothing heavy loads before a command runs. Long steps run as the
same detached jobs the Models screen starts; the command follows their progress on
stderr and prints the result on stdout, so scripts can capture it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.cli.common import POSITIVE, SEED, SHARE, opened_workspace, real_number, say, whole_number

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.models import ModelEntry
    from core.models.jobs import Job


def add_commands(commands: Any) -> None:
    """Add the model commands to ``mhbench``'s subparsers."""
    models = commands.add_parser("models", help="list the model catalog (registers profiles and models found on disk)")
    models.add_argument("--json", action="store_true", help="machine-readable output (API keys never included)")
    models.add_argument("--kind", choices=("base", "adapter", "merged", "gguf", "endpoint"), help="only this kind")
    models.add_argument("--add", metavar="PATH", action="append", default=[],
                        help="register a model folder, adapter checkpoint or GGUF file (repeatable)")
    models.add_argument("--endpoint", nargs=2, metavar=("NAME", "URL"),
                        help="register an OpenAI-compatible endpoint (URL like http://host:8000/v1)")
    models.add_argument("--served-name", help="with --endpoint: the model name the endpoint expects")
    keys = models.add_mutually_exclusive_group()
    keys.add_argument("--api-key-env", metavar="VAR",
                      help="with --endpoint: the API key is read from this environment variable at each call; "
                           "only its name is stored")
    keys.add_argument("--api-key-stdin", action="store_true",
                      help="with --endpoint: read the API key from stdin into the workspace's owner-only "
                           "secrets file (never argv, never the database)")
    models.add_argument("--remove", metavar="MODEL", help="remove an entry from the catalog (files stay)")
    models.set_defaults(handler=cmd_models)

    merge = commands.add_parser("merge", help="merge a LoRA checkpoint into its base (swift export --merge_lora)")
    merge.add_argument("checkpoint", help="adapter id, checkpoint folder, or run id (its newest checkpoint)")
    merge.add_argument("--name", help="name of the merged model (default: from the run and step)")
    merge.add_argument("--detach", action="store_true", help="print the job id and return at once")
    merge.set_defaults(handler=cmd_merge)

    gguf = commands.add_parser("gguf", help="convert a model to an f16 GGUF, and optionally quantise it")
    gguf.add_argument("model", help="merged or base model (an adapter is merged first), or an f16 GGUF")
    gguf.add_argument("--quant", type=str.lower, choices=("q8_0", "q5_k_m", "q4_k_m"), help="also quantise to this")
    gguf.add_argument("--name", help="name of the GGUF (default: the model's)")
    gguf.set_defaults(handler=cmd_gguf)

    serve = commands.add_parser("serve", help="start (or reuse) a shared server for models; --stop, --list")
    serve.add_argument("models", nargs="*", metavar="MODEL", help="catalog models (adapters of one base share one)")
    serve.add_argument("--stop", action="store_true", help="stop the servers of MODEL (or the server with that id)")
    serve.add_argument("--list", action="store_true", help="list the servers")
    serve.add_argument("--json", action="store_true", help="machine-readable output")
    serve.add_argument("--backend", choices=("transformers", "pt", "vllm", "lmdeploy", "sglang"),
                       help="swift deploy's engine (default: the profile's)")
    serve.add_argument("--tensor-parallel", type=POSITIVE, metavar="N",
                       help="vLLM/lmdeploy/SGLang: GPUs per replica (default: the profile's deploy.tensor_parallel)")
    serve.add_argument("--gpu-memory", type=SHARE, metavar="SHARE",
                       help="vLLM/lmdeploy/SGLang: share of each GPU the engine takes, e.g. 0.9")
    serve.add_argument("--max-model-len", type=POSITIVE, metavar="N",
                       help="vLLM/lmdeploy/SGLang: longest context (default: the profile's deploy.session_len)")
    serve.add_argument("--n-gpu-layers", type=whole_number(-1), metavar="N", help="llama.cpp layers on the GPU (-1: all)")
    serve.add_argument("--n-ctx", type=POSITIVE, metavar="N", help="llama.cpp context length")
    serve.add_argument("--force", action="store_true", help="start even when the GPU memory looks too small")
    serve.add_argument("--dry-run", action="store_true",
                       help="print each server's exact command (flags checked against the installed swift); start none")
    serve.set_defaults(handler=cmd_serve)

    parity = commands.add_parser(
        "parity", help="check that a GGUF (or swift's template for a served model) renders the same chat prompt")
    parity.add_argument("model_a", help="a GGUF, its source HF model, or an HF model that swift deploy serves")
    parity.add_argument("model_b", nargs="?",
                        help="the other one (default: a GGUF's source from its lineage; for an HF model, "
                             "its profile's swift template)")
    parity.add_argument("--json", action="store_true", help="machine-readable output")
    parity.set_defaults(handler=cmd_parity)

    chat = commands.add_parser("chat", help="stream one answer from a model to stdout")
    chat.add_argument("model", help="catalog model (its server is started or reused)")
    chat.add_argument("prompt", help="the user's message")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--temperature", type=real_number(0.0, 2.0), default=0.7)
    chat.add_argument("--top-p", type=SHARE, default=0.8)
    chat.add_argument("--repetition-penalty", type=real_number(0.0, above_low=True), default=1.05)
    chat.add_argument("--max-tokens", type=POSITIVE, default=512)
    chat.add_argument("--seed", type=SEED, default=1234)
    chat.set_defaults(handler=cmd_chat)

    jobs = commands.add_parser("jobs", help="list merge, convert and quantise jobs; --stop ID")
    jobs.add_argument("--stop", metavar="JOB", help="stop a job")
    jobs.add_argument("--json", action="store_true", help="machine-readable output")
    jobs.set_defaults(handler=cmd_jobs)


def describe(entry: ModelEntry) -> str:
    """A model's lineage in a few words: what it came from and how."""
    parts = []
    if entry.quant:
        parts.append(entry.quant)
    if entry.run_id:
        parts.append(f"run {entry.run_id}" + (f" {Path(entry.checkpoint).name}" if entry.checkpoint else ""))
    if entry.parent_id:
        parts.append(f"from {entry.parent_id}")
    elif entry.base_id and entry.base_id != entry.id:
        parts.append(f"base {entry.base_id}")
    if entry.profile:
        parts.append(f"profile {entry.profile}")
    if entry.missing:
        parts.append("FILES MISSING")
    return ", ".join(parts)


def cmd_models(args: argparse.Namespace) -> int:
    from core.base.errors import MhbenchError
    from core.models import format_size, list_models, register_endpoint, remove_model
    from core.models.discovery import discover
    from core.models.targets import sync_catalog

    workspace = opened_workspace(args)
    if args.remove:
        entry = remove_model(workspace, args.remove)
        print(f"removed {entry.id} (files kept)")
        return 0
    if args.endpoint:
        name, url = args.endpoint
        if args.api_key_env and not os.environ.get(args.api_key_env):
            raise MhbenchError(f"${args.api_key_env} is empty.", fix=f"export {args.api_key_env}=… first.")
        key = sys.stdin.readline().strip() if args.api_key_stdin else None
        if args.api_key_stdin and not key:
            raise MhbenchError("no API key on stdin.", fix="pipe it in: `printf %s \"$KEY\" | mhbench models "
                                                         "--endpoint NAME URL --api-key-stdin`.")
        entry = register_endpoint(workspace, name, url, api_key=key, served_name=args.served_name,
                                  api_key_env=args.api_key_env)
        print(entry.id)
        return 0
    if args.add:
        for entry in discover(workspace, args.add):
            say(f"registered {entry.kind} {entry.id}")
    sync_catalog(workspace)
    entries = list_models(workspace, args.kind)
    if args.json:
        print(json.dumps([entry.to_dict() for entry in entries], ensure_ascii=False, indent=2))
        return 0
    if not entries:
        print("the catalog is empty: add a profile, train a run, or `mhbench models --add PATH`.")
        return 0
    width = min(max(len(entry.id) for entry in entries), 48)
    for entry in entries:
        print(f"{entry.id:<{width}}  {entry.kind:<8} {format_size(entry.size_bytes):>9}  {describe(entry)}")
    return 0


def follow_job(workspace: Workspace, job: Job) -> Job:
    """Print the job's progress until it ends; Ctrl-C leaves it running."""
    from core.models.jobs import get_job

    last = ""
    try:
        while job.active:
            text = job.progress_text()
            if text != last:
                say(f"{job.kind}: {text}")
                last = text
            time.sleep(0.5)
            job = get_job(workspace, job.id)
    except KeyboardInterrupt:
        say(f"the {job.kind} job {job.id} goes on in the background; see `mhbench jobs`.")
        raise
    return job


def _finished(workspace: Workspace, job: Job) -> str:
    from core.base.errors import MhbenchError

    done = follow_job(workspace, job)
    if done.status != "finished" or done.result_model_id is None:
        diagnosis = done.diagnosis or {}
        raise MhbenchError(
            f"the {done.kind} job {done.status}: {diagnosis.get('summary') or 'see its log'}",
            path=done.stdout_path,
            fix=str(diagnosis.get("fix") or "read the log named here."),
        )
    say(f"{done.kind} finished: registered {done.result_model_id}")
    return done.result_model_id


def cmd_merge(args: argparse.Namespace) -> int:
    from core.models.jobs import merge

    workspace = opened_workspace(args)
    job = merge(workspace, args.checkpoint, name=args.name)
    if args.detach:
        print(job.id)
        return 0
    print(_finished(workspace, job))
    return 0


def cmd_gguf(args: argparse.Namespace) -> int:
    from core.models import get_model
    from core.models.jobs import convert_to_gguf, merge, quantize

    workspace = opened_workspace(args)
    entry = get_model(workspace, args.model)
    model_id = entry.id
    if entry.kind == "adapter":
        say(f"{entry.id} is an adapter: merging it first")
        model_id = _finished(workspace, merge(workspace, model_id))
    if entry.kind != "gguf":
        model_id = _finished(workspace, convert_to_gguf(workspace, model_id, name=None if args.quant else args.name))
    if args.quant:
        model_id = _finished(workspace, quantize(workspace, model_id, args.quant, name=args.name))
    print(model_id)
    return 0


def _server_rows(workspace: Workspace) -> list[dict[str, Any]]:
    from core.models.serving import list_servers

    return [
        {"id": s.id, "backend": s.backend, "status": s.status, "base_url": s.base_url, "models": list(s.model_ids),
         "served_names": list(s.served_names), "pid": s.pid, "created_at": s.created_at}
        for s in list_servers(workspace)
    ]


def cmd_serve(args: argparse.Namespace) -> int:
    from core.base.errors import MhbenchError
    from core.models.serving import get_server, stop_server
    from core.models.targets import ServeOptions, connect_models, memory_warnings, planned_servers, servers_of

    workspace = opened_workspace(args)
    if args.list or not args.models:
        rows = _server_rows(workspace)
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        elif not rows:
            print("no servers: start one with `mhbench serve MODEL`.")
        for row in rows if not args.json else []:
            print(f"{row['id']:<40} {row['status']:<8} {row['backend']:<9} {row['base_url']}  {', '.join(row['models'])}")
        return 0
    if args.stop:
        for ref in args.models:
            try:
                servers = servers_of(workspace, ref)
            except MhbenchError:
                servers = [get_server(workspace, ref)]
            if not servers:
                say(f"no live server serves {ref}.")
            for server in servers:
                stopped = stop_server(workspace, server.id, progress=say)
                print(f"{stopped.id} {stopped.status}")
        return 0
    options = ServeOptions(infer_backend=args.backend, n_gpu_layers=args.n_gpu_layers, n_ctx=args.n_ctx,
                           tensor_parallel=args.tensor_parallel, gpu_memory=args.gpu_memory,
                           max_model_len=args.max_model_len)
    if args.dry_run:
        import shlex

        for model_ids, argv, note in planned_servers(workspace, args.models, options):
            print(f"# {', '.join(model_ids)}")
            if note:
                print(f"# {note}")
            print(shlex.join(argv))
        return 0
    warnings = memory_warnings(workspace, args.models)
    for warning in warnings:
        say(f"warning: {warning}")
    if warnings and not args.force:
        raise MhbenchError("not started, to keep the GPU memory of other work.", fix="add --force to start anyway.")
    targets = connect_models(workspace, args.models, options=options, progress=say)
    if args.json:
        print(json.dumps([{"model_id": t.model_id, "base_url": t.base_url, "model": t.model, "server_id": t.server_id}
                          for t in targets], ensure_ascii=False, indent=2))
    for target in targets if not args.json else []:
        print(f"{target.model_id}  {target.base_url}  model={target.model}  server={target.server_id or '-'}")
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    from core.models import get_model
    from core.models.parity import parity_for_models, record_parity

    workspace = opened_workspace(args)
    # A verdict on one model (a GGUF, or a model swift serves) is kept in its lineage.
    one_model = args.model_b is None or get_model(workspace, args.model_a).kind == "gguf"
    check = record_parity if one_model else parity_for_models
    report = check(workspace, args.model_a, args.model_b)
    if args.json:
        print(json.dumps({"passed": report.passed, "text_match": report.text_match, "ids_match": report.ids_match,
                          "hf_dir": str(report.hf_dir), "gguf": str(report.gguf_path),
                          "difference": report.first_difference.describe() if report.first_difference else None},
                         ensure_ascii=False, indent=2))
    else:
        print(report.summary())
    return 0 if report.passed else 1


def cmd_chat(args: argparse.Namespace) -> int:
    import asyncio

    from core.models.client import (
        ChatRequest,
        GenerationParams,
        StreamStats,
        TextDelta,
        clean_text,
        speed_summary,
        stream_chat,
    )
    from core.models.targets import connect_models

    workspace = opened_workspace(args)
    (target,) = connect_models(workspace, [args.model], progress=say)
    params = GenerationParams(temperature=args.temperature, top_p=args.top_p,
                              repetition_penalty=args.repetition_penalty, max_tokens=args.max_tokens, seed=args.seed)
    request = ChatRequest([{"role": "user", "content": args.prompt}], params, target.model, system=args.system)

    async def stream() -> StreamStats | None:
        stats = None
        async with aclosing(stream_chat(target.base_url, request, api_key=target.api_key)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    sys.stdout.write(clean_text(event.text))
                    sys.stdout.flush()
                else:
                    stats = event
        return stats

    stats = asyncio.run(stream())
    print()
    if stats is not None:
        say(speed_summary(stats.tokens, stats.ttft_s, stats.tokens_per_s, stats.finish_reason, ", "))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from core.models.jobs import list_jobs, stop_job

    workspace = opened_workspace(args)
    if args.stop:
        job = stop_job(workspace, args.stop)
        print(f"{job.id} {job.status}")
        return 0
    jobs = list_jobs(workspace)
    if args.json:
        print(json.dumps([{"id": j.id, "kind": j.kind, "status": j.status, "source": j.source_id,
                           "result": j.result_model_id, "exit_code": j.exit_code, "diagnosis": j.diagnosis,
                           "log": str(j.stdout_path), "created_at": j.created_at} for j in jobs],
                         ensure_ascii=False, indent=2))
        return 0
    if not jobs:
        print("no jobs yet: `mhbench merge`, `mhbench gguf`, or the Models screen (F4).")
    for job in jobs:
        print(f"{job.id:<48} {job.status:<9} {job.result_model_id or job.progress_text()}")
    return 0

