"""Writes that never leave a half-written file or directory behind, even if the process dies.

The one atomic writer of the project: every file a run, a report or a job leaves for people is
written through here, so all of them get the permissions a plain open() would give.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def _read_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# Read once at import: os.umask can only be read by setting it, which races with other threads.
_UMASK = _read_umask()


def _as_if_created_normally(path: str | Path, mode: int) -> None:
    """mkstemp/mkdtemp make owner-only files; give the result the permissions open() would,
    so that a report or model written for others can be read by them."""
    os.chmod(path, mode & ~_UMASK)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _as_if_created_normally(tmp, 0o666)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def replaced_atomically(path: str | Path) -> Iterator[Path]:
    """A scratch path beside `path` for a library that writes the file itself (savefig, save_file,
    torch.onnx.export, Parquet); it is renamed over `path` only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(scratch)
        with open(scratch, "rb+") as handle:
            os.fsync(handle.fileno())
        _as_if_created_normally(scratch, 0o666)
        os.replace(scratch, path)
    finally:
        Path(scratch).unlink(missing_ok=True)


def staging_dir(final: str | Path) -> Path:
    """A fresh empty directory beside `final` to build its replacement in."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    _as_if_created_normally(staged, 0o777)
    return staged


def publish_dir(staged: str | Path, final: str | Path) -> None:
    """Swap a fully written staging directory in for `final`; the old one is removed only after."""
    staged, final = Path(staged), Path(final)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(staged, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
