"""Atomic writes: the result replaces the target whole, with the permissions a plain write gives."""
from __future__ import annotations

import stat

from model.atomic_files import publish_dir, staging_dir, write_text_atomic


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_file_gets_the_permissions_of_a_plain_write(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    atomic = tmp_path / "atomic.txt"
    write_text_atomic(atomic, "first")
    write_text_atomic(atomic, "second")
    assert atomic.read_text(encoding="utf-8") == "second"
    assert _mode(atomic) == _mode(plain)
    assert not list(tmp_path.glob(".*.tmp"))


def test_published_directory_replaces_the_old_one_and_is_readable_like_mkdir(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    final = tmp_path / "model"
    for version in ("old", "new"):
        staged = staging_dir(final)
        write_text_atomic(staged / "weights.txt", version)
        publish_dir(staged, final)
    assert (final / "weights.txt").read_text(encoding="utf-8") == "new"
    assert _mode(final) == _mode(plain)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
