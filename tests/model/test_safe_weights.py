"""Weights load from safetensors only; a pickle is never unpickled except by the explicit converter."""
import os
import pickle
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file

from apps.cli import main
from conftest import ROOT
from model import StanceClassifier
from model.export.convert_weights import main as convert_main
from model.safe_weights import UnsafeWeightsError

ARTICLE = "Beijing warned it would retaliate. Talks resume on Monday."


class _RunsCode:
    """A pickle that runs a command when unpickled: what a stranger's checkpoint may hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _pickled_copy(tiny_model, tmp_path, payload):
    model_dir = tmp_path / "pickled"
    shutil.copytree(tiny_model, model_dir)
    (model_dir / "model.safetensors").unlink()
    with open(model_dir / "pytorch_model.bin", "wb") as handle:
        pickle.dump(payload, handle)
    return model_dir


def test_a_directory_with_only_a_pickle_is_refused_and_can_be_converted(tiny_model, tmp_path, capsys):
    expected = [p.label for p in StanceClassifier.from_pretrained(tiny_model).predict(ARTICLE)]
    model_dir = tmp_path / "pickled"
    shutil.copytree(tiny_model, model_dir)
    torch.save(load_file(model_dir / "model.safetensors"), model_dir / "pytorch_model.bin")
    (model_dir / "model.safetensors").unlink()
    with pytest.raises(UnsafeWeightsError, match="a Python pickle; loading a pickle can run any code") as error:
        StanceClassifier.from_pretrained(model_dir)
    assert f"python -m model.export.convert_weights {model_dir}" in str(error.value)
    assert main(["predict", str(model_dir), "-"]) == 2 and "pickle" in capsys.readouterr().err

    assert convert_main([str(model_dir)]) == 0
    assert [p.label for p in StanceClassifier.from_pretrained(model_dir).predict(ARTICLE)] == expected
    # Written like every other file (model/atomic_files.py): readable by whoever may read the directory, not owner-only.
    umask = os.umask(0)
    os.umask(umask)
    assert (model_dir / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_malicious_pickle_is_never_executed(tiny_model, tmp_path):
    marker = tmp_path / "code-ran"
    model_dir = _pickled_copy(tiny_model, tmp_path, {"weight": _RunsCode(marker)})
    with pytest.raises(UnsafeWeightsError):
        StanceClassifier.from_pretrained(model_dir)
    assert convert_main([str(model_dir)]) == 2  # even the explicit converter's restricted unpickler refuses it
    assert not marker.exists() and not (model_dir / "model.safetensors").exists()


def test_onnx_files_load_only_from_the_model_directory(tiny_model, tmp_path):
    model_dir = tmp_path / "linked"
    shutil.copytree(tiny_model, model_dir)
    outside = tmp_path / "elsewhere.onnx"
    outside.write_bytes(b"not loaded")
    (model_dir / "model.onnx").symlink_to(outside)
    with pytest.raises(UnsafeWeightsError, match="outside the model directory"):
        StanceClassifier.from_pretrained(model_dir, backend="onnx", precision="fp32")


def test_no_code_unpickles_weights():
    """torch.load appears only in the explicit converter, and only with weights_only=True."""
    calls = {}
    for path in [*ROOT.glob("model/**/*.py"), *ROOT.glob("training/*.py"), *ROOT.glob("eval/*.py"), *ROOT.glob("bench/*.py"),
                 *ROOT.glob("apps/**/*.py")]:
        found = re.findall(r"(?:torch\.load|pickle\.loads?|joblib\.load)\([^)]*\)", path.read_text(encoding="utf-8"))
        if found:
            calls[path.relative_to(ROOT).as_posix()] = found
    converter = "model/export/convert_weights.py"
    assert list(calls) == [converter] and all("weights_only=True" in c for c in calls[converter])
