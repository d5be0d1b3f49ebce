"""The docs' generated figures: the committed README and docs agree with docs/results/, and the
check catches a figure typed over."""
import dataclasses
import json
import shutil
import sys

import pytest

from conftest import ROOT
from eval.results_tables import (DOCUMENTS, REGION, RENDERERS, ResultsError, add_lever, load_results, main, model_from_json,
                                 refresh_from_run, render_region, stale_regions, write_regions)
from training.config import TrainConfig


def test_committed_docs_agree_with_the_result_files():
    stale = stale_regions()
    assert not stale, f"regions out of date (run python -m eval.results_tables --write): {stale}"


def test_every_renderer_has_a_region_and_no_placeholder_is_left():
    names = set()
    for document in DOCUMENTS:
        text = (ROOT / document).read_text(encoding="utf-8")
        names |= {m.group("name") for m in REGION.finditer(text)}
        assert "CLUSTER_" not in text
    assert names == set(RENDERERS)


@pytest.fixture
def copy_of_docs(tmp_path):
    for document in DOCUMENTS:
        (tmp_path / document).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / document, tmp_path / document)
    shutil.copytree(ROOT / "docs" / "results", tmp_path / "docs" / "results")
    shutil.copy(ROOT / "docs" / "adaptation_curve.json", tmp_path / "docs" / "adaptation_curve.json")
    return tmp_path


def test_a_figure_typed_over_is_caught_and_rewritten(copy_of_docs):
    readme = copy_of_docs / "README.md"
    real = load_results(copy_of_docs / "docs" / "results").model("default").evaluation("realnews_dev")
    typed = f"{real.macro_f1:.3f}"
    readme.write_text(readme.read_text(encoding="utf-8").replace(typed, "0.999"), encoding="utf-8")
    stale = {(s.document, s.name) for s in stale_regions(copy_of_docs)}
    assert ("README.md", "default-results") in stale and ("README.md", "quick-accuracy") in stale
    write_regions(copy_of_docs)
    assert stale_regions(copy_of_docs) == []


def test_a_changed_result_file_changes_the_docs(copy_of_docs):
    path = copy_of_docs / "docs" / "results" / "bench_inference.json"
    bench = json.loads(path.read_text())
    bench["rows"][3]["sentences_per_s"] = 999.4
    path.write_text(json.dumps(bench))
    stale = {(s.document, s.name) for s in stale_regions(copy_of_docs)}
    assert stale == {("README.md", "serving"), ("docs/SCALING.md", "int8-free-core")}


def test_config_table_follows_the_dataclass():
    table = render_region("config-fields", load_results())
    for field in dataclasses.fields(TrainConfig):
        assert f"| `{field.name}` |" in table
    assert "| `epochs` |" in table and f"| `{TrainConfig().epochs}` |" in table.split("| `epochs` |")[1].split("\n")[0]


def test_refresh_from_a_trained_model_directory(tiny_model, tmp_path):
    target = refresh_from_run(tiny_model, "tiny", tmp_path)
    written = json.loads(target.read_text())
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    results = model_from_json("tiny", written)
    assert results.steps == metrics["training"]["steps"]
    test = results.evaluation("test")
    assert test.macro_f1 == pytest.approx(metrics["test"]["macro_f1"]) and test.articles >= 1
    assert results.temperature == pytest.approx(json.loads((tiny_model / "calibration.json").read_text())["temperature"])
    with pytest.raises(ResultsError, match="no evaluation 'realnews_dev'"):
        results.evaluation("realnews_dev")


def test_command_line(tmp_path, capsys):
    assert main(["--check"]) == 0
    with pytest.raises(ResultsError, match="has no metrics.json"):
        refresh_from_run(tmp_path, "x", tmp_path)
    assert main(["--from-run", str(tmp_path / "missing"), "--as", "x"]) == 2
    assert "has no metrics.json" in capsys.readouterr().err


def test_bench_inference_json_is_what_the_serving_table_reads(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_inference
    finally:
        sys.path.remove(str(ROOT / "bench"))
    rows = [bench_inference.Row(name, 100.0 + i, 1.0, 300.0, 0.6, 1.0 - i / 100) for i, name in enumerate(bench_inference.BACKENDS)]
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    bench_inference.write_json(results_dir / "bench_inference.json", rows, 5000, ROOT / "runs" / "default", 3, 0.05,
                               ["runs/default", "--repeats", "3"])
    text = render_region("serving", load_results(results_dir))
    assert "| StanceClassifier, ONNX int8 (`precision=\"int8\"`) | 103 | 1.03 |" in text
    assert "recomputed 5.0% of the sentences" in text


def test_a_lever_row_comes_from_a_model_directory_and_renders(tiny_model, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_model, run)
    with pytest.raises(ResultsError, match="no evaluation of realnews_dev, contrast"):
        add_lever(run, "tiny", folder=tmp_path)
    for name in ("realnews_dev", "contrast"):  # the test split's report, filed under the names the table reads
        shutil.copytree(run / "eval" / "test", run / "eval" / name)
    target = add_lever(run, "tiny recipe", "1 thread", folder=tmp_path)
    add_lever(run, "tiny recipe, again", folder=tmp_path)
    add_lever(run, "tiny recipe", "2 threads", folder=tmp_path)  # replaces the row in place
    rows = json.loads(target.read_text())["rows"]
    assert [r["title"] for r in rows] == ["tiny recipe", "tiny recipe, again"] and rows[0]["training_note"] == "2 threads"
    metrics = json.loads((run / "metrics.json").read_text())
    assert rows[0]["realnews_dev"]["macro_f1"] == pytest.approx(metrics["test"]["macro_f1"])
    text = render_region("real-news-levers", load_results(tmp_path))
    assert text.count("\n| tiny recipe") == 2 and f"{metrics['training']['steps']} steps, 2 threads |" in text
