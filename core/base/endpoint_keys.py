"""Endpoint API keys kept out of the database: in the workspace's owner-only secrets file.

The database records only *where* an endpoint's key is (``endpoint_keys``: the name of an
environment variable, or this file); the key's bytes never enter ``mhbench.db``, its WAL or a
copy of it. The file is ``secrets/endpoint-keys.json`` in a folder only its owner may open,
a JSON object from model id to key, rewritten whole under a lock.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from core.base.errors import MhbenchError
from core.base.owner_only import owner_dir, write_owner_file

SECRETS_DIR = "secrets"
KEYS_FILE = "endpoint-keys.json"


def keys_path(root: Path) -> Path:
    return root / SECRETS_DIR / KEYS_FILE


@contextmanager
def locked_keys(root: Path) -> Iterator[dict[str, str]]:
    """The keys, for a change: held under an exclusive lock and written back (owner-only) at the end."""
    folder = owner_dir(root / SECRETS_DIR)
    with (folder / (KEYS_FILE + ".lock")).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        keys = dict(read_keys(root))
        before = dict(keys)
        yield keys
        if keys != before:
            write_owner_file(keys_path(root), json.dumps(keys, indent=2, sort_keys=True) + "\n")


def read_keys(root: Path) -> Mapping[str, str]:
    path = keys_path(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError) as error:
        raise MhbenchError(f"the endpoint keys file is not valid JSON ({error}).", path=path,
                           fix="restore it, or delete it and register the endpoints' keys again "
                               "(`mhbench models --endpoint NAME URL --api-key-stdin`).") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise MhbenchError("the endpoint keys file is not an object of model id to key.", path=path,
                           fix="restore it, or delete it and register the endpoints' keys again.")
    return data


def store_key(root: Path, model_id: str, key: str) -> None:
    with locked_keys(root) as keys:
        keys[model_id] = key


def forget_key(root: Path, model_id: str) -> None:
    if keys_path(root).exists():
        with locked_keys(root) as keys:
            keys.pop(model_id, None)
