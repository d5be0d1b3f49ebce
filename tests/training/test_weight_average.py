"""The weight average (`ema_decay`): its arithmetic, its swap in and out, checkpoints, and a training run."""
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, tiny_overrides
from training.checkpoints import LoopState, resume_checkpoint, save_checkpoint
from training.config import ConfigError, load_config
from training.trainer import train
from training.weight_average import WARM_UP, WeightAverage

CONFIG = ROOT / "configs" / "default.yaml"


def _stepped_model(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    return model, optimizer


def _step(model, optimizer):
    loss = model(torch.randn(4, 3)).pow(2).sum()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def test_the_average_follows_the_warmed_up_recurrence():
    model, optimizer = _stepped_model()
    average = WeightAverage(model, decay=0.9)
    expected = model.weight.detach().clone()
    for n in range(100):  # (1 + n) / (WARM_UP + n) reaches 0.9 at n = 81
        _step(model, optimizer)
        decay = min(0.9, (1 + n) / (WARM_UP + n))
        assert average.current_decay() == pytest.approx(decay)
        average.update(model)
        expected = decay * expected + (1 - decay) * model.weight.detach()
    torch.testing.assert_close(average.tensors()["weight"], expected)
    assert average.updates == 100 and average.current_decay() == 0.9


def test_applied_swaps_the_average_in_and_the_raw_weights_back_even_on_error():
    model, optimizer = _stepped_model()
    average = WeightAverage(model, decay=0.5)
    for _ in range(3):
        _step(model, optimizer)
        average.update(model)
    raw = {k: v.clone() for k, v in model.state_dict().items()}
    with average.applied(model):
        torch.testing.assert_close(model.weight, average.tensors()["weight"])
        assert not torch.equal(model.weight, raw["weight"])
    assert all(torch.equal(model.state_dict()[k], raw[k]) for k in raw)
    with pytest.raises(RuntimeError, match="inside"):
        with average.applied(model):
            raise RuntimeError("inside")
    assert all(torch.equal(model.state_dict()[k], raw[k]) for k in raw)


def test_a_decay_outside_zero_to_one_is_refused():
    model, _ = _stepped_model()
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        WeightAverage(model, decay=1.0)
    with pytest.raises(ConfigError, match="ema_decay must be in"):
        load_config(CONFIG, ["ema_decay=1.5"])


def test_a_checkpoint_carries_the_average_and_its_step_count(tmp_path):
    config = load_config(None, [f"output_dir={tmp_path / 'run'}", "ema_decay=0.8"])
    model, optimizer = _stepped_model()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    average = WeightAverage(model, decay=0.8)
    for _ in range(5):
        _step(model, optimizer)
        scheduler.step()
        average.update(model)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    save_checkpoint(config, model, optimizer, scheduler, LoopState(5, 0.5, 5, 0, []), best, average)

    fresh, fresh_optimizer = _stepped_model(seed=1)
    fresh_scheduler = torch.optim.lr_scheduler.LambdaLR(fresh_optimizer, lambda step: 1.0)
    fresh_average = WeightAverage(fresh, decay=0.8)
    resumed = resume_checkpoint(load_config(None, [f"output_dir={tmp_path / 'run'}", "ema_decay=0.8", "resume=true"]),
                                fresh, fresh_optimizer, fresh_scheduler, fresh_average)
    assert fresh_average.updates == 5
    for name, value in average.tensors().items():
        torch.testing.assert_close(fresh_average.tensors()[name], value)
    # The best weights were saved to their own file, not taken as "the current weights".
    assert all(torch.equal(resumed.best_state[k], best[k]) for k in best)


def test_a_run_with_ema_decay_saves_the_lagging_average_and_says_so(tiny_corpus, tmp_path):
    from safetensors.numpy import load_file

    from model.base_model import resolve_base_model
    from eval.post_training import train_and_report

    # One evaluation, at the last step, so both runs save their last step's weights: raw or averaged.
    common = ["eval_every=4", "patience=0", "num_threads=1"]
    train(load_config(CONFIG, tiny_overrides(tiny_corpus, tmp_path / "raw") + common), progress=False)
    train_and_report(load_config(CONFIG, tiny_overrides(tiny_corpus, tmp_path / "ema") + common + ["ema_decay=0.9"]),
                     progress=False)
    base = load_file(str(next(Path(resolve_base_model("sentence-transformers/all-MiniLM-L6-v2")).glob("*.safetensors"))))
    raw, ema = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("raw", "ema"))
    key = next(k for k in raw if k.endswith("layer.5.attention.self.query.weight"))
    start = base[next(k for k in base if k.endswith("layer.5.attention.self.query.weight"))]
    # The average of the steps so far lags behind the last step: nearer the pretrained start (the
    # warm-up of the decay keeps it close behind over four steps).
    assert not np.array_equal(ema[key], raw[key])
    assert np.linalg.norm(ema[key] - start) < np.linalg.norm(raw[key] - start)
    assert "weights averaged over the steps (ema_decay 0.9)" in (tmp_path / "ema" / "README.md").read_text()

