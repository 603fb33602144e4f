"""Encodings: UTF-8 with or without a BOM, and GBK/GB18030 or mixed files named with the iconv fix."""

from __future__ import annotations

from pathlib import Path

from core.base.errors import MhbenchError

BOM = b"\xef\xbb\xbf"


def read_dataset_bytes(path: Path) -> bytes:
    """The file's bytes; a missing, unreadable or folder path raises MhbenchError with the fix."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MhbenchError("does not exist.", path=path, fix="check it for a typo, whether it came from the profile's train.dataset, --dataset or the command line.") from None
    except IsADirectoryError:
        raise MhbenchError(
            "is a folder, not a dataset file.", path=path, fix="name a .jsonl, .json or .csv file."
        ) from None
    except OSError as error:
        raise MhbenchError(
            f"cannot be read: {error.strerror}.", path=path, fix="check the file's permissions."
        ) from None


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def encoding_of(path: Path, data: bytes) -> str:
    """The encoding of ``data``; raises MhbenchError naming the first bad byte and the fix."""
    body, encoding = (data[len(BOM) :], "utf-8-sig") if data.startswith(BOM) else (data, "utf-8")
    try:
        body.decode("utf-8")
        return encoding
    except UnicodeDecodeError as error:
        offset = error.start + (len(data) - len(body))
        bad = data[offset]
    line = data.count(b"\n", 0, offset) + 1
    where = f"byte 0x{bad:02x} at offset {offset} (line {line})"
    converted = f"{path.stem}.utf8{path.suffix}"
    line_start = data.rfind(b"\n", 0, offset) + 1
    if _decodes(data[line_start:], "gb18030"):
        head = data[:line_start].decode("utf-8", errors="replace")
        if any("\u4e00" <= char <= "\u9fff" for char in head):
            # Chinese that is valid UTF-8 before, GBK after: files joined with `cat` from two tools.
            raise MhbenchError(
                f"mixes encodings: UTF-8 before line {line}, then GBK/GB18030 ({where}).",
                path=path,
                line=line,
                fix=f"convert only the tail: tail -n +{line} {path.name} | iconv -f GB18030 -t UTF-8, and join it to the UTF-8 head.",
            )
        raise MhbenchError(
            f"is not UTF-8 ({where}): it looks like GBK/GB18030 (common from Chinese Windows tools).",
            path=path,
            line=line,
            fix=f"convert it: iconv -f GB18030 -t UTF-8 {path.name} > {converted} (or save as UTF-8 in your editor).",
        )
    raise MhbenchError(
        f"is not UTF-8 text ({where}), nor GBK/GB18030.",
        path=path,
        line=line,
        fix="save it as UTF-8 in your editor, or convert it with iconv -f <its encoding> -t UTF-8.",
    )


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when the file starts with a BOM, ``utf-8`` when it decodes, else MhbenchError."""
    return encoding_of(path, read_dataset_bytes(path))

