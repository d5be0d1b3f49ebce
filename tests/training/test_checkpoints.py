import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, tiny_overrides
from eval.post_training import train_and_report
from model import StanceClassifier
from training.checkpoints import checkpoint_root, latest_checkpoint
from training.config import ConfigError, load_config
from training.trainer import train

CONFIG = ROOT / "configs" / "default.yaml"
# 8 steps with a checkpoint every 2; one thread so the killed, resumed and uninterrupted runs do
# the same arithmetic in the same order.
RESUMABLE = ["max_steps=8", "checkpoint_every=2", "eval_every=2", "num_threads=1"]


def test_killed_training_resumes_to_the_same_result(tiny_corpus, tmp_path):
    out = tmp_path / "run"
    overrides = tiny_overrides(tiny_corpus, out) + RESUMABLE
    log = (tmp_path / "killed.log").open("w")
    child = subprocess.Popen([sys.executable, "-m", "apps.cli", "train", str(CONFIG), *overrides], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
                             stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while latest_checkpoint(out) is None:
        assert child.poll() is None, f"training ended before its first checkpoint: {(tmp_path / 'killed.log').read_text()}"
        assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    killed_at = int(latest_checkpoint(out).name.split("-")[1])
    assert not out.exists(), "the model directory appears only when training completes"
    assert 2 <= killed_at < 8

    with pytest.raises(ConfigError, match="resume=true"):  # a fresh run would throw the checkpoint away
        train(load_config(CONFIG, overrides), progress=False)
    with pytest.raises(ConfigError, match="learning_rate"):  # resuming under another config is refused
        train(load_config(CONFIG, overrides + ["resume=true", "learning_rate=1e-3"]), progress=False)

    resumed = train_and_report(load_config(CONFIG, overrides + ["resume=true"]), progress=False).run
    assert resumed.steps == 8 and not checkpoint_root(out).exists()
    predictions = StanceClassifier.from_pretrained(out).predict("Beijing warned it would retaliate. Talks resume on Monday.")
    assert len(predictions) == 2

    reference = train_and_report(load_config(CONFIG, tiny_overrides(tiny_corpus, tmp_path / "uninterrupted") + RESUMABLE),
                                 progress=False).run
    first, second = (json.loads((path / "metrics.json").read_text()) for path in (out, reference.output_dir))
    assert second["training"]["resumed_from_step"] is None and first["training"]["resumed_from_step"] >= killed_at
    assert first["dev"] == second["dev"]
    assert first["test"]["confusion"] == second["test"]["confusion"] and first["macro_f1"] == second["macro_f1"]


def test_a_checkpoint_from_before_a_new_field_resumes_when_the_field_keeps_its_default(tmp_path):
    import dataclasses

    from training.checkpoints import _require_same_run

    config = load_config(None, ["precision=fp32"])
    older = {key: value for key, value in dataclasses.asdict(config).items() if key != "precision"}
    _require_same_run(config, older, tmp_path / "state.json")  # fp32 is what that run used
    with pytest.raises(ConfigError, match=r"precision \('fp32' -> 'bf16'\)"):
        _require_same_run(load_config(None, ["precision=bf16"]), older, tmp_path / "state.json")
