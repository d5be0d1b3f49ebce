import json

import pytest
import torch
from safetensors import safe_open

from conftest import ROOT, tiny_overrides
from eval.post_training import train_and_report
from model.classifier import StanceClassifier
from training.config import ConfigError, load_config
from training.precision import autocast_for, cpu_has_native_bf16, resolve_precision, step_budget

CPU = torch.device("cpu")


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 avx2 {flags}\n\nprocessor\t: 1\n", encoding="utf-8")
    return path


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    assert cpu_has_native_bf16(_cpuinfo(tmp_path, "avx512f avx512_vnni avx512_bf16"))
    assert cpu_has_native_bf16(_cpuinfo(tmp_path, "amx_tile amx_bf16"))
    assert not cpu_has_native_bf16(_cpuinfo(tmp_path, "avx512f avx512_vnni"))
    assert not cpu_has_native_bf16(tmp_path / "missing")


def test_explicit_precisions_are_kept_and_auto_resolves_to_a_real_one():
    assert resolve_precision("fp32", CPU) == "fp32"
    assert resolve_precision("bf16", CPU) == "bf16"
    assert resolve_precision("auto", CPU) == ("bf16" if cpu_has_native_bf16() else "fp32")


def test_bf16_autocast_runs_matmuls_in_bf16_and_fp32_leaves_them_alone():
    a = torch.ones(2, 2)
    with autocast_for("bf16", CPU):
        assert (a @ a).dtype == torch.bfloat16
    with autocast_for("fp32", CPU):
        assert (a @ a).dtype == torch.float32


def test_an_unknown_precision_is_refused():
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, auto"):
        load_config(None, ["precision=fp16"])


def test_training_in_bf16_saves_fp32_weights_that_predict(tiny_corpus, tmp_path):
    out = tmp_path / "bf16"
    train_and_report(load_config(ROOT / "configs" / "default.yaml", tiny_overrides(tiny_corpus, out) + ["precision=bf16"]), progress=False)
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        assert {weights.get_tensor(name).dtype for name in weights.keys()} == {torch.float32}
    assert json.loads((out / "metrics.json").read_text())["training"]["precision"] == "bf16"
    assert "arithmetic: bf16" in (out / "README.md").read_text()
    probabilities = StanceClassifier.from_pretrained(out).predict_proba(["Washington warned of sanctions."])
    assert probabilities.shape == (1, 4) and abs(probabilities.sum() - 1) < 1e-5


def test_fp32_steps_are_capped_by_max_steps_fp32_and_bf16_steps_are_not():
    assert step_budget(1000, 700, "fp32") == 700
    assert step_budget(1000, 700, "bf16") == 1000
    assert step_budget(4, 700, "fp32") == 4  # a cap: a short run stays short
    assert step_budget(0, 700, "fp32") == 700 and step_budget(1000, 0, "fp32") == 1000
    with pytest.raises(ConfigError, match="max_steps_fp32 must be 0 or more"):
        load_config(None, ["max_steps_fp32=-1"])


def test_a_run_in_fp32_stops_at_its_fp32_budget(tiny_corpus, tmp_path):
    out = tmp_path / "fp32"
    overrides = tiny_overrides(tiny_corpus, out) + ["precision=fp32", "max_steps_fp32=2"]
    train_and_report(load_config(ROOT / "configs" / "default.yaml", overrides), progress=False)
    assert json.loads((out / "metrics.json").read_text())["training"]["steps"] == 2
