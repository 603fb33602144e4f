"""Where a run's processes go: one or several processes per machine, one or several machines.

mhbench never builds a torchrun command of its own. ms-swift 4.x re-executes ``swift sft``
under ``python -m torch.distributed.run`` when ``NPROC_PER_NODE`` or ``NNODES`` is set,
and passes ``NPROC_PER_NODE``, ``MASTER_PORT``, ``NNODES``, ``NODE_RANK`` and
``MASTER_ADDR`` on as torchrun's options (``swift/cli/main.py``). So a multi-node run is
the same ``swift sft`` argv on every machine with a different environment, and this
module works out that environment and checks it before anything starts.

DeepSpeed is swift's too: ``--deepspeed zero2|zero3|zero2_offload|zero3_offload`` names
a config that swift ships (``swift/config/*.json``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from core.base.errors import MhbenchError
from core.base.gpu import parse_gpu_list

if TYPE_CHECKING:
    from core.profiles import Profile

DeepSpeedPreset = Literal["zero2", "zero3", "zero2_offload", "zero3_offload"]
DEEPSPEED_PRESETS: tuple[DeepSpeedPreset, ...] = ("zero2", "zero3", "zero2_offload", "zero3_offload")
TORCHRUN_DEFAULT_PORT = 29500
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


@dataclass(frozen=True)
class Topology:
    """The processes of one run on one node, as swift's torchrun re-exec reads them."""

    nnodes: int = 1
    node_rank: int = 0
    nproc_per_node: int | None = None
    """``None``: one process and no torchrun."""
    master_addr: str | None = None
    master_port: int = TORCHRUN_DEFAULT_PORT
    port_given: bool = False
    """Whether the port was chosen (a one-node run then passes it on; otherwise torchrun's default)."""

    @property
    def multi_node(self) -> bool:
        return self.nnodes > 1

    @property
    def label(self) -> str:
        """``node 1/2``; empty for a one-node run."""
        return f"node {self.node_rank}/{self.nnodes}" if self.multi_node else ""

    def environment(self) -> dict[str, str]:
        """The variables that make swift start torchrun with this topology; none for one process."""
        env: dict[str, str] = {}
        if self.multi_node:
            assert self.master_addr is not None
            env.update({
                "NNODES": str(self.nnodes),
                "NODE_RANK": str(self.node_rank),
                "MASTER_ADDR": self.master_addr,
                "MASTER_PORT": str(self.master_port),
                "NPROC_PER_NODE": str(self.nproc_per_node or 1),
            })
            return env
        if self.nproc_per_node is not None and self.nproc_per_node > 1:
            env["NPROC_PER_NODE"] = str(self.nproc_per_node)
            if self.port_given:
                env["MASTER_PORT"] = str(self.master_port)
        return env


def resolve_topology(
    profile: Profile,
    *,
    nnodes: int | None = None,
    node_rank: int | None = None,
    nproc_per_node: int | None = None,
    master_addr: str | None = None,
    master_port: int | None = None,
    cuda_visible_devices: str | None = None,
) -> Topology:
    """The launch options over the profile's ``[distributed]`` section, every value checked."""
    section = profile.distributed
    nodes = nnodes if nnodes is not None else section.nnodes
    rank = node_rank if node_rank is not None else 0
    nproc = nproc_per_node if nproc_per_node is not None else section.nproc_per_node
    port = master_port if master_port is not None else section.master_port
    if nodes < 1:
        raise MhbenchError(f"{nodes} nodes: a run needs at least one.", fix="set nodes to 1, or the number of machines.")
    if not 0 <= rank < nodes:
        raise MhbenchError(
            f"node rank {rank} is outside 0–{nodes - 1} for {nodes} node(s).",
            fix=f"give each machine its own rank from 0 to {nodes - 1}; rank 0 is the master."
            if nodes > 1 else "a one-node run is rank 0; set --nnodes for a multi-node run.",
        )
    if not 1024 <= port <= 65535:
        raise MhbenchError(f"master port {port} is outside 1024–65535.",
                           fix=f"use a free port of the master node, e.g. {TORCHRUN_DEFAULT_PORT}.")
    if nproc is not None and nproc < 1:
        raise MhbenchError("processes per node must be at least 1.", fix="set 1, or the number of GPUs.")
    visible = len(gpu_list(cuda_visible_devices)) if cuda_visible_devices else None
    if nproc is not None and visible is not None and nproc > visible:
        raise MhbenchError(
            f"{nproc} processes per node but only {visible} GPU(s) ({cuda_visible_devices}) are visible to the run.",
            fix=f"set processes per node to {visible} or fewer, or list more GPUs.",
        )
    address = (master_addr or "").strip() or None
    if nodes > 1:
        if address is None:
            raise MhbenchError(
                f"a {nodes}-node run needs the master's address.",
                fix="give --master-addr HOST: the address of the rank-0 machine that every node can reach.",
            )
        check_master_addr(address)
    elif address is not None:
        check_master_addr(address)
    return Topology(nodes, rank, nproc, address, port, master_port is not None or port != TORCHRUN_DEFAULT_PORT)


def check_master_addr(address: str) -> None:
    """An IP address or a host name; anything else would only fail inside torchrun's rendezvous."""
    try:
        ipaddress.ip_address(address)
        return
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(address):
        raise MhbenchError(f"master address '{address}' is neither an IP address nor a host name.",
                           fix="give the rank-0 machine's IP (10.0.0.1) or host name (gpu-a.lab).")


def parse_host_port(text: str) -> tuple[str | None, int | None]:
    """``host``, ``host:port`` or ``[v6]:port`` as typed in the launch form; blank is (None, None)."""
    text = text.strip()
    if not text:
        return None, None
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if port_text and not port_text.isdigit():
        raise MhbenchError(f"'{port_text}' in '{text}' is not a port number.", fix="write host or host:29500.")
    return host.strip() or None, int(port_text) if port_text else None


def gpu_list(cuda_visible_devices: str) -> tuple[str, ...]:
    """The GPUs a run may use, indices or ``GPU-``/``MIG-`` UUIDs, checked."""
    try:
        return parse_gpu_list(cuda_visible_devices)
    except ValueError as error:
        raise MhbenchError(f"GPUs '{cuda_visible_devices}' is not a list of GPU indices or UUIDs: {error}.",
                           fix="write indices like 0 or 0,1, or UUIDs as `nvidia-smi -L` prints them.") from None


def check_gpus_per_process(gpus: int, nproc: int, deepspeed: str | None) -> None:
    """swift's own rule (``swift/utils/env.py`` ``is_mp``), asked before a model loads.

    swift asserts that the GPUs a node sees divide evenly among its processes, and treats two or
    more GPUs per process as model parallelism (``device_map``), which DeepSpeed refuses
    (``SftArguments._init_deepspeed``). Without GPUs (gloo on a CPU) there is nothing to divide.
    """
    if gpus < 1:
        return
    if gpus % nproc:
        raise MhbenchError(
            f"{gpus} GPU(s) do not divide among {nproc} process(es): swift asserts n_gpu % processes == 0.",
            fix=f"run {gpus} process(es) (one per GPU), or list {nproc} GPU(s) with --gpus.",
        )
    if gpus // nproc >= 2 and deepspeed:
        raise MhbenchError(
            f"{gpus} GPU(s) for {nproc} process(es) is {gpus // nproc} GPUs per process, which swift runs as model "
            f"parallelism (device_map), and DeepSpeed ({deepspeed}) refuses that.",
            fix=f"set processes per node to {gpus} (--nproc {gpus}), or list {nproc} GPU(s) with --gpus.",
        )


def check_local_gpus(topology: Topology, visible_gpus: int) -> None:
    """Before a real start: no more processes than this machine has GPUs (a CPU-only box runs gloo)."""
    nproc = topology.nproc_per_node or 1
    if visible_gpus and nproc > visible_gpus:
        raise MhbenchError(
            f"{nproc} processes per node but this machine has {visible_gpus} GPU(s).",
            fix=f"set processes per node to {visible_gpus} or fewer.",
        )


def check_deepspeed_installed(preset: str | None) -> None:
    """swift asks for the ``deepspeed`` package only after loading the model; ask first."""
    import importlib.util

    if preset and importlib.util.find_spec("deepspeed") is None:
        raise MhbenchError(
            f"DeepSpeed ({preset}) is asked for but the deepspeed package is not installed.",
            fix="`.venv/bin/pip install deepspeed` on the GPU box (it needs CUDA), or launch without DeepSpeed.",
        )
