"""The README's and docs' results figures, rendered from the result files in docs/results/.

A number in the docs is generated, not typed: each region between `<!-- generated:NAME -->` and
`<!-- /generated:NAME -->` is what `render_region(NAME, results)` gives for the committed JSON
files, so two places can never quote one measurement differently.

    python -m eval.results_tables --write                          # rewrite every generated region
    python -m eval.results_tables --check                          # exit 1 naming the regions that disagree
    python -m eval.results_tables --from-run runs/default --as default   # refresh docs/results/default.json
    python -m eval.results_tables --add-lever runs/x --title "recipe x"  # a row of the real-news lever table

tests/test_results_tables.py runs the check on the committed files.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from model.atomic_files import write_text_atomic
from model.labels import LABELS
from training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "docs" / "results"
# Result files an experiment driver writes into docs/ itself, read as benchmarks of these names.
EXPERIMENT_FILES = {"adaptation_curve": "adaptation_curve.json"}  # eval/adaptation_curve.py --out docs
# The Markdown files that may hold generated regions.
DOCUMENTS = ("README.md", "docs/ADAPTATION.md", "docs/SCALING.md", "docs/PROFILE.md", "docs/REAL_NEWS.md")
LEVERS = "real_news_levers"  # docs/results/real_news_levers.json: one row per recipe tried on real news
# The team's goal on real news (issue 1): what the quick path compares the model against.
TARGET_MACRO_F1 = 0.80
TARGET_MIN_CLASS_F1 = 0.70
REAL_NEWS = "realnews_dev"
REGION = re.compile(r"(<!-- generated:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)", re.S)


class ResultsError(ValueError):
    """A result file or a generated region is missing or malformed."""


@dataclass(frozen=True)
class EvalFigures:
    """How one model scored on one labelled set (a subset of an evaluation's metrics.json)."""

    data: str
    sentences: int
    articles: int | None
    macro_f1: float
    macro_f1_ci: tuple[float, float] | None
    accuracy: float | None  # None where only the macro-F1 was recorded
    f1: dict[str, float] | None
    baseline_macro_f1: float | None = None  # TF-IDF + logistic regression trained on the same split
    ece_before: float | None = None
    ece_after: float | None = None


@dataclass(frozen=True)
class ModelResults:
    """What the docs quote about one trained model: docs/results/<name>.json."""

    name: str
    source: str
    base_model: str
    epochs: int
    steps: int
    train_sentences: int
    training_seconds: float
    temperature: float | None  # None where the fitted value was not recorded
    temperature_sentences: int | None
    evaluations: dict[str, EvalFigures]
    notes: dict[str, str] = field(default_factory=dict)  # figures measured outside the run (wall time of the quickstart...)
    calibration_method: str = "temperature"  # model.calibration.CALIBRATION_METHODS

    def calibration_text(self) -> str:
        """How the model's probabilities were calibrated, in a few words."""
        return _calibration_text(self.calibration_method, self.temperature)

    def evaluation(self, name: str) -> EvalFigures:
        if name not in self.evaluations:
            raise ResultsError(f"docs/results/{self.name}.json has no evaluation '{name}' "
                               f"(it has: {', '.join(self.evaluations) or 'none'})")
        return self.evaluations[name]


@dataclass(frozen=True)
class Results:
    """Every result file of docs/results/, by name."""

    models: dict[str, ModelResults]
    benchmarks: dict[str, dict]

    def model(self, name: str) -> ModelResults:
        if name not in self.models:
            raise ResultsError(f"docs/results/{name}.json is missing")
        return self.models[name]

    def benchmark(self, name: str) -> dict:
        if name not in self.benchmarks:
            raise ResultsError(f"docs/results/{name}.json is missing")
        return self.benchmarks[name]


# ---------------------------------------------------------------------------------------------
# Reading and writing the result files


def _eval_from_json(raw: dict) -> EvalFigures:
    ci = raw.get("macro_f1_ci")
    f1 = raw.get("f1")
    return EvalFigures(raw["data"], int(raw["sentences"]), raw.get("articles"), float(raw["macro_f1"]),
                       (float(ci[0]), float(ci[1])) if ci else None, raw.get("accuracy"),
                       {label: float(f1[label]) for label in LABELS} if f1 else None, raw.get("baseline_macro_f1"),
                       raw.get("ece_before"), raw.get("ece_after"))


def model_from_json(name: str, raw: dict) -> ModelResults:
    """A ModelResults from the parsed JSON of docs/results/<name>.json."""
    try:
        return ModelResults(name, raw["source"], raw["base_model"], int(raw["epochs"]), int(raw["steps"]),
                            int(raw["train_sentences"]), float(raw["training_seconds"]), raw.get("temperature"),
                            raw.get("temperature_sentences"),
                            {key: _eval_from_json(value) for key, value in raw["evaluations"].items()},
                            dict(raw.get("notes", {})), raw.get("calibration_method", "temperature"))
    except (KeyError, TypeError, ValueError) as error:
        raise ResultsError(f"docs/results/{name}.json: missing or malformed field {error}") from None


def load_results(folder: str | Path = RESULTS_DIR) -> Results:
    """Read every docs/results/*.json: a file with "evaluations" describes a model, any other a benchmark."""
    models, benchmarks = {}, {}
    folder = Path(folder)
    experiments = [folder.parent / name for name in EXPERIMENT_FILES.values() if (folder.parent / name).is_file()]
    for path in sorted(folder.glob("*.json")) + experiments:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ResultsError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
        if "evaluations" in raw:
            models[path.stem] = model_from_json(path.stem, raw)
        else:
            benchmarks[path.stem] = raw
    return Results(models, benchmarks)


def _eval_figures_of(metrics: dict, predictions: Path | None) -> dict:
    """The subset of an evaluation's metrics.json the docs quote (articles counted from predictions.jsonl)."""
    articles = None
    if predictions is not None and predictions.is_file():
        with predictions.open(encoding="utf-8") as handle:
            articles = len({json.loads(line)["article_id"] for line in handle if line.strip()})
    baseline = metrics.get("baselines", {}).get("TF-IDF + logistic regression")
    calibration = metrics.get("calibration") or {}
    return {"data": metrics.get("data", ""), "sentences": metrics["n"], "articles": articles,
            "macro_f1": metrics["macro_f1"], "macro_f1_ci": metrics.get("macro_f1_ci"), "accuracy": metrics["accuracy"],
            "f1": {label: metrics["per_class"][label]["f1"] for label in LABELS},
            "baseline_macro_f1": baseline["macro_f1"] if baseline else None,
            "ece_before": calibration.get("ece_before"), "ece_after": calibration.get("ece_after")}


def results_from_run(model_dir: str | Path, previous: dict | None = None) -> dict:
    """docs/results/<name>.json's content for a model directory written by `stance train`.

    Reads metrics.json (training figures, the test split), calibration.json, config.yaml and every
    report folder under eval/ (`stance evaluate` writes eval/<data name>/, e.g. eval/realnews_dev/).
    `notes` (figures measured outside the run) are kept from `previous`.
    """
    import yaml

    path = Path(model_dir)
    metrics_file = path / "metrics.json"
    if not metrics_file.is_file():
        raise ResultsError(f"{path} has no metrics.json; is it a model directory written by `stance train`?")
    summary = json.loads(metrics_file.read_text(encoding="utf-8"))
    config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) if (path / "config.yaml").is_file() else {}
    calibration = json.loads((path / "calibration.json").read_text(encoding="utf-8")) \
        if (path / "calibration.json").is_file() else {"temperature": 1.0, "sentences": 0}
    evaluations = {}
    reports = path / "eval"
    for folder in sorted(reports.iterdir()) if reports.is_dir() else []:
        if (folder / "metrics.json").is_file():
            evaluations[folder.name] = _eval_figures_of(json.loads((folder / "metrics.json").read_text(encoding="utf-8")),
                                                        folder / "predictions.jsonl")
    if "test" not in evaluations and summary.get("test"):
        evaluations["test"] = _eval_figures_of(summary["test"], None)
    training = summary["training"]
    return {"source": f"{path} (python -m eval.results_tables --from-run {path})",
            "base_model": training.get("base_model", config.get("base_model", "")),
            "epochs": config.get("epochs", TrainConfig().epochs), "steps": training["steps"],
            "train_sentences": training["train_sentences"], "training_seconds": training["seconds"],
            "temperature": calibration["temperature"], "temperature_sentences": calibration.get("sentences", 0),
            "calibration_method": calibration.get("method", "temperature"), "evaluations": evaluations, "notes": (previous or {}).get("notes", {})}


def refresh_from_run(model_dir: str | Path, name: str, folder: str | Path = RESULTS_DIR) -> Path:
    """Write docs/results/<name>.json from `model_dir` (atomically); run --write afterwards."""
    target = Path(folder) / f"{name}.json"
    previous = json.loads(target.read_text(encoding="utf-8")) if target.is_file() else None
    content = results_from_run(model_dir, previous)
    model_from_json(name, content)  # refuse to write a file the renderers cannot read
    write_text_atomic(target, json.dumps(content, indent=2) + "\n")
    return target


# ---------------------------------------------------------------------------------------------
# Rendering


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ci(figures: EvalFigures) -> str:
    ci = figures.macro_f1_ci
    return f"{figures.macro_f1:.3f} ({ci[0]:.3f}-{ci[1]:.3f})" if ci else f"{figures.macro_f1:.3f}"


def _per_class(figures: EvalFigures, short: bool = False) -> str:
    if figures.f1 is None:
        return "n/a"
    values = [f"{figures.f1[label]:.3f}" for label in LABELS]
    return " / ".join(v[1:] if short else v for v in values)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _count(n: int) -> str:
    return f"{n:,}"


def render_quick_accuracy(results: Results) -> str:
    """The quick path's one honest paragraph: real-news macro-F1 beside the team's target."""
    model = results.model("default")
    real = model.evaluation(REAL_NEWS)
    weakest = min(LABELS, key=lambda label: real.f1[label])
    if real.f1 is None:
        raise ResultsError("docs/results/default.json: the real-news evaluation lacks per-class F1")
    below = [label for label in LABELS if real.f1[label] < TARGET_MIN_CLASS_F1]
    verdict = ("meets it" if real.macro_f1 >= TARGET_MACRO_F1 and not below else
               f"does not reach it yet ({len(below)} of {len(LABELS)} classes below {TARGET_MIN_CLASS_F1:.2f}; "
               f"weakest: {weakest} {real.f1[weakest]:.3f})")
    accurate = results.models.get("accurate")
    better = (f": the accurate tier (below) scores {accurate.evaluation(REAL_NEWS).macro_f1:.3f} at a higher serving cost"
              if accurate and REAL_NEWS in accurate.evaluations
              and accurate.evaluation(REAL_NEWS).macro_f1 > real.macro_f1 else "")
    return (f"On real news (the team's dev set: {_count(real.sentences)} sentences from "
            f"{real.articles} articles, never trained on) the default model scores **macro-F1 {_ci(real)}** "
            f"(95% CI), accuracy {_f(real.accuracy)}. The team's target is macro-F1 {TARGET_MACRO_F1:.2f} with no "
            f"class below {TARGET_MIN_CLASS_F1:.2f}; the default model {verdict}. Treat its labels as a first pass "
            f"to check, not as a verdict{better}.")


def render_quickstart_time(results: Results) -> str:
    """How long the quickstart takes, from the notes of docs/results/default.json."""
    model = results.model("default")
    notes = model.notes
    install, rest = notes.get("install_minutes"), notes.get("quickstart_minutes_after_install")
    if install is None or rest is None:
        raise ResultsError("docs/results/default.json notes need install_minutes and quickstart_minutes_after_install")
    total = float(install) + float(rest)
    return (f"On a 2-core CPU without a GPU it takes under {math.ceil(total / 5) * 5} minutes (measured in a fresh clone: "
            f"install {float(install):.1f} min, then {float(rest):.1f} min to train ({_minutes(model.training_seconds)} of it), "
            f"evaluate and label the example).")


def _calibration_text(method: str, temperature: float | None, short: bool = False) -> str:
    if method == "vector":
        return "vector" if short else "vector scaling (a scale and a shift per class)"
    return f"T {_f(temperature, 2)}" if short else f"temperature scaling (T = {_f(temperature, 2)})"


def render_default_results(results: Results) -> str:
    """The default model's results: the run, then one row per evaluated set."""
    model = results.model("default")
    rows = [("test", "held-out test articles (our corpus{articles})"), ("contrast", "contrast set (minimal pairs)"),
            (REAL_NEWS, "**real news** (`../shared/data/realnews_dev.jsonl`{articles})")]
    lines = [f"**The default model** (`runs/default`, {_count(model.train_sentences)} training sentences, {model.epochs} epochs, "
             f"{model.steps} steps, {_minutes(model.training_seconds)} of training; calibrated on the dev split by "
             f"{model.calibration_text()}; figures from `docs/results/default.json`):",
             "",
             "| evaluated on | sentences | macro-F1 (95% CI, bootstrap by article) | accuracy | "
             "F1 neutral / conciliatory / dismissive / threatening | TF-IDF + LR baseline |",
             "|---|---|---|---|---|---|"]
    for key, title in rows:
        if key not in model.evaluations:
            continue
        e = model.evaluations[key]
        name = title.format(articles=f", {e.articles} articles" if e.articles else "")
        macro = f"**{_ci(e)}**" if key == REAL_NEWS else _ci(e)
        lines.append(f"| {name} | {_count(e.sentences)} | {macro} | {_f(e.accuracy)} | {_per_class(e)} | "
                     f"{_f(e.baseline_macro_f1)} |")
    if REAL_NEWS in model.evaluations:
        real = model.evaluations[REAL_NEWS]
        lines += ["", f"Expected calibration error on real news: {_f(real.ece_before)} raw, {_f(real.ece_after)} after "
                      f"{model.calibration_text()}."]
    return "\n".join(lines)


def render_calibration_figures(results: Results) -> str:
    """The calibration paragraph's measurement."""
    model = results.model("default")
    real = model.evaluation(REAL_NEWS)
    return (f"On the real-news dev set ({_count(real.sentences)} sentences), the default model, calibrated on its own "
            f"dev split ({_count(model.temperature_sentences or 0)} sentences) by {model.calibration_text()}: "
            f"**ECE {_f(real.ece_before)} before, {_f(real.ece_after)} after**.")


SERVING_NAMES = {
    "transformers.pipeline": "transformers.pipeline (batch 64)",
    "torch": "StanceClassifier, torch",
    "onnx fp32": "StanceClassifier, ONNX fp32",
    "onnx int8": "StanceClassifier, ONNX int8 (`precision=\"int8\"`)",
    "onnx int8 + fp32 recheck (auto)": "**StanceClassifier, ONNX int8 + fp32 recheck (`backend=\"auto\"`)**",
}


def _serving_rows(bench: dict) -> dict[str, dict]:
    return {row["name"]: row for row in bench["rows"]}


def render_serving(results: Results) -> str:
    """The CPU serving table: one run of bench/bench_inference.py (docs/results/bench_inference.json)."""
    bench = results.benchmark("bench_inference")
    lines = [f"One run of `{bench['command']}` on {bench['model']} ({bench['date']}; {_count(bench['sentences'])} real-news "
             f"sentences, median of {bench['repeats']} runs, the backends taking turns in one process; {bench['machine']}; "
             "figures from `docs/results/bench_inference.json`):",
             "",
             "| backend | sentences/s | x pipeline | cold start (s) | peak RSS (MB) | dev macro-F1 | same label as torch |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in bench["rows"]:
        bold = row["name"].endswith("(auto)")
        speed, ratio, same = f"{row['sentences_per_s']:.0f}", f"{row['x_pipeline']:.2f}", f"{row['same_label_as_torch']:.1%}"
        if bold:
            speed, ratio, same = f"**{speed}**", f"**{ratio}**", f"**{same}**"
        lines.append(f"| {SERVING_NAMES.get(row['name'], row['name'])} | {speed} | {ratio} | {row['cold_start_s']:.2f} | "
                     f"{row['peak_rss_mb']:.0f} | {row['macro_f1']:.3f} | {same} |")
    rows = _serving_rows(bench)
    int8, auto = rows["onnx int8"], rows["onnx int8 + fp32 recheck (auto)"]
    lines += ["", f"In this run the recheck recomputed {bench['recheck_share']:.1%} of the sentences in fp32; it cost "
                  f"{1 - auto['sentences_per_s'] / int8['sentences_per_s']:.0%} of int8's speed and lifted label agreement "
                  f"with torch from {int8['same_label_as_torch']:.1%} to {auto['same_label_as_torch']:.1%}."]
    return "\n".join(lines)


def render_int8_free_core(results: Results) -> str:
    """docs/SCALING.md's ceiling per free core, from the serving benchmark."""
    bench = results.benchmark("bench_inference")
    int8 = _serving_rows(bench)["onnx int8"]
    cores = int(bench.get("physical_cores", 2))
    return (f"For a free core, the serving benchmark in the README gives the ceiling: the int8 model ran "
            f"{int8['sentences_per_s']:.0f} sentences/s on {cores} free cores (about {int8['sentences_per_s'] / cores:.0f} "
            f"per core; `docs/results/bench_inference.json`), batched across articles. The archive scorer scores each "
            f"article on its own (so that its rows never depend on the rest of the batch), which pads less well; expect "
            f"somewhat below {int8['sentences_per_s'] / cores:.0f} per free core.")


def render_tiers(results: Results) -> str:
    """The accurate-tier comparison: model figures from each model's file, speeds from one bench_predict_speed run."""
    names = ("default", "accurate")
    models = [results.model(name) for name in names]
    speed = results.benchmark("bench_predict_speed")
    real = [m.evaluation(REAL_NEWS) for m in models]
    best = max(range(len(models)), key=lambda i: real[i].macro_f1)

    def cells(values: list[str]) -> str:
        return " | ".join(values)

    header = [f"{models[i].notes.get('title', names[i])}" for i in range(len(models))]
    macro = [f"**{_ci(r)}**" if i == best else _ci(r) for i, r in enumerate(real)]
    speeds = [" / ".join(f"{speed['models'][n][k]:.0f}" for k in ("torch", "onnx int8", "onnx int8 + fp32 recheck"))
              for n in names]
    test_contrast = [f"{m.evaluation('test').macro_f1:.3f} / {m.evaluation('contrast').macro_f1:.3f}" for m in models]
    training = []
    for m in models:
        extra = f", {m.notes['training']}" if "training" in m.notes else ""
        training.append(f"{_minutes(m.training_seconds)} ({m.steps} steps{extra})")
    return "\n".join([
        f"| | {cells(header)} |",
        "|---|---|---|",
        f"| encoder | {cells([m.notes.get('encoder', m.base_model) for m in models])} |",
        f"| **real news macro-F1** (95% CI) | {cells(macro)} |",
        f"| real news F1 neutral / conciliatory / dismissive / threatening | {cells([_per_class(r, short=True) for r in real])} |",
        f"| real news accuracy; ECE after calibration | {cells([f'{_f(r.accuracy)}; {_f(r.ece_after)}' for r in real])} |",
        f"| our test articles / contrast set macro-F1 | {cells(test_contrast)} |",
        f"| training time, 2 CPU cores (wall) | {cells(training)} |",
        f"| predict, sentences/s: torch / ONNX int8 / int8 + fp32 recheck | {cells(speeds)} |",
        f"| int8 file | {cells([str(round(speed['models'][n]['int8_file_mb'])) + ' MB' for n in names])} |",
    ])


def render_adaptation(results: Results) -> str:
    """The README's adaptation table, from docs/adaptation_curve.json (eval/adaptation_curve.py's output)."""
    curve = results.benchmark("adaptation_curve")
    by = {(c["chooser"], c["size"]): c["pooled_macro_f1"] for c in curve["conditions"]}
    baseline = by[("none", "0")]
    lines = ["| own labels added | chosen by `suggest` | chosen at random |", "|---|---|---|",
             f"| 0 (the default model of that run) | {baseline:.3f} | {baseline:.3f} |"]
    sizes = sorted({size for chooser, size in by if chooser == "suggest"}, key=int)
    best = max(value for (chooser, _), value in by.items() if chooser in ("suggest", "random"))

    def cell(value: float | None) -> str:
        if value is None:
            return "n/a"
        return f"**{value:.3f}**" if value == best and value > baseline else f"{value:.3f}"

    for size in sizes:
        lines.append(f"| {size} | {cell(by[('suggest', size)])} | {cell(by.get(('random', size)))} |")
    everything = [c for c in curve["conditions"] if c["chooser"] == "all"]
    if everything:
        labels = statistics.median(everything[0]["labels_used"])
        lines.append(f"| all labels of the other articles (about {labels:.0f} per fold) | {everything[0]['pooled_macro_f1']:.3f} | "
                     f"{everything[0]['pooled_macro_f1']:.3f} |")
    return "\n".join(lines)


def render_adaptation_baseline(results: Results) -> str:
    """docs/ADAPTATION.md's note on which default model the curve started from."""
    curve = results.benchmark("adaptation_curve")
    pooled = next(c["pooled_macro_f1"] for c in curve["conditions"] if c["chooser"] == "none")
    real = results.model("default").evaluation(REAL_NEWS)
    return (f"The default model's pooled score ({pooled:.3f}) is that model's score on the whole set, as it must be: "
            f"the folds only regroup the same predictions. It is the default model of the day of this measurement, "
            f"trained before checkpointing gave the data loader its own random generator; the default model the README "
            f"reports now (a different shuffle, same seed and data) scores {_ci(real)} on the whole set, inside this "
            f"one's interval. The curve has not been measured again from the new model.")


def _default_text(value: object) -> str:
    if isinstance(value, str):
        return f"`{value}`" if value else "`''`"
    return f"`{json.dumps(value)}`"


def render_config_fields(results: Results) -> str:
    """Every TrainConfig field with its help text and default, straight from the dataclass."""
    lines = ["| field | meaning | default |", "|---|---|---|"]
    for f in dataclasses.fields(TrainConfig):
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        lines.append(f"| `{f.name}` | {f.metadata['help'].replace('|', '&#124;')} | {_default_text(default)} |")
    return "\n".join(lines)


def lever_row_from_run(model_dir: str | Path, title: str, training_note: str = "") -> dict:
    """One row of the real-news lever table from a model directory that evaluated realnews_dev."""
    figures = results_from_run(model_dir)
    missing = [name for name in (REAL_NEWS, "test", "contrast") if name not in figures["evaluations"]]
    if missing:
        raise ResultsError(f"{model_dir} has no evaluation of {', '.join(missing)} (eval/<name>/metrics.json)")
    summary = json.loads((Path(model_dir) / "metrics.json").read_text(encoding="utf-8"))
    return {"title": title, "source": str(model_dir), "steps": figures["steps"], "training_seconds": figures["training_seconds"],
            "training_note": training_note, "temperature": figures["temperature"],
            "calibration_method": figures["calibration_method"],
            "held_out_real_macro_f1": summary.get("dev", {}).get("best_macro_f1"),
            "realnews_dev": figures["evaluations"][REAL_NEWS], "test_macro_f1": figures["evaluations"]["test"]["macro_f1"],
            "contrast_macro_f1": figures["evaluations"]["contrast"]["macro_f1"]}


def add_lever(model_dir: str | Path, title: str, training_note: str = "", folder: str | Path = RESULTS_DIR) -> Path:
    """Add (or replace, by title) a row of docs/results/real_news_levers.json; run --write afterwards."""
    target = Path(folder) / f"{LEVERS}.json"
    table = json.loads(target.read_text(encoding="utf-8")) if target.is_file() else {"rows": []}
    row = lever_row_from_run(model_dir, title, training_note)
    rows = [r for r in table["rows"] if r["title"] != title]
    at = next((i for i, r in enumerate(table["rows"]) if r["title"] == title), len(rows))
    table["rows"] = rows[:at] + [row] + rows[at:]
    write_text_atomic(target, json.dumps(table, indent=1) + "\n")
    return target


def render_real_news_levers(results: Results) -> str:
    """What each lever gave on the real-news dev set, one row per recipe (docs/results/real_news_levers.json)."""
    table = results.benchmark(LEVERS)
    lines = ["| recipe | dev macro-F1 (95% CI) | dev F1 N / C / D / T | dev ECE raw -> calibrated (map) | held-out real (selects) "
             "| our test / contrast | training |", "|---|---|---|---|---|---|---|"]
    for row in table["rows"]:
        dev = _eval_from_json(row["realnews_dev"])
        temperature = f" ({_calibration_text(row.get('calibration_method', 'temperature'), row.get('temperature'), short=True)})" \
            if row.get("temperature") else ""
        training = _minutes(row["training_seconds"]) + f", {row['steps']} steps" + (f", {row['training_note']}" if row.get("training_note") else "")
        lines.append(f"| {row['title']} | {_ci(dev)} | {_per_class(dev, short=True)} | {_f(dev.ece_before)} -> "
                     f"{_f(dev.ece_after)}{temperature} | {_f(row.get('held_out_real_macro_f1'))} | "
                     f"{_f(row.get('test_macro_f1'))} / {_f(row.get('contrast_macro_f1'))} | {training} |")
    return "\n".join(lines)


RENDERERS: dict[str, Callable[[Results], str]] = {
    "quick-accuracy": render_quick_accuracy,
    "quickstart-time": render_quickstart_time,
    "default-results": render_default_results,
    "calibration-figures": render_calibration_figures,
    "serving": render_serving,
    "int8-free-core": render_int8_free_core,
    "tiers": render_tiers,
    "adaptation": render_adaptation,
    "adaptation-baseline": render_adaptation_baseline,
    "config-fields": render_config_fields,
    "real-news-levers": render_real_news_levers,
}


def render_region(name: str, results: Results) -> str:
    """The text of generated region `name` (without its markers)."""
    if name not in RENDERERS:
        raise ResultsError(f"unknown generated region '{name}'; known: {', '.join(RENDERERS)}")
    return RENDERERS[name](results).rstrip("\n") + "\n"


def regenerate(text: str, results: Results) -> str:
    """`text` with every generated region's body replaced by its rendering."""
    return REGION.sub(lambda m: m.group(1) + render_region(m.group("name"), results) + m.group(4), text)


@dataclass(frozen=True)
class StaleRegion:
    """A generated region whose committed text differs from its rendering."""

    document: str
    name: str


def stale_regions(root: str | Path = ROOT, results: Results | None = None) -> list[StaleRegion]:
    """The regions of the docs that disagree with docs/results/ (empty when everything is current)."""
    root = Path(root)
    results = results or load_results(root / "docs" / "results")
    stale = []
    for document in DOCUMENTS:
        text = (root / document).read_text(encoding="utf-8")
        for match in REGION.finditer(text):
            if match.group("body") != render_region(match.group("name"), results):
                stale.append(StaleRegion(document, match.group("name")))
    return stale


def write_regions(root: str | Path = ROOT) -> list[str]:
    """Rewrite every generated region in place; the documents that changed."""
    root = Path(root)
    results = load_results(root / "docs" / "results")
    changed = []
    for document in DOCUMENTS:
        path = root / document
        text = path.read_text(encoding="utf-8")
        updated = regenerate(text, results)
        if updated != text:
            write_text_atomic(path, updated)
            changed.append(document)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.results_tables",
                                     description="Render the docs' results figures from docs/results/*.json.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite every generated region of README.md and docs/")
    action.add_argument("--check", action="store_true",
                        help="exit 1, naming each region that disagrees with docs/results/ (what the tests run)")
    action.add_argument("--from-run", metavar="MODEL_DIR",
                        help="refresh docs/results/NAME.json from a model directory (metrics.json, calibration.json, eval/*/), "
                             "then rewrite the regions")
    action.add_argument("--add-lever", metavar="MODEL_DIR",
                        help="add or replace (by --title) a row of docs/results/real_news_levers.json from a model "
                             "directory that evaluated realnews_dev, then rewrite the regions")
    parser.add_argument("--as", dest="name", default="default",
                        help="with --from-run: which docs/results/NAME.json to write (default: default)")
    parser.add_argument("--title", help="with --add-lever: the row's title (the recipe, in words)")
    parser.add_argument("--training-note", default="", help="with --add-lever: how it was trained (threads, machine)")
    args = parser.parse_args(argv)
    try:
        if args.from_run:
            print(f"wrote {refresh_from_run(args.from_run, args.name)}")
        if args.add_lever:
            if not args.title:
                parser.error("--add-lever needs --title")
            print(f"wrote {add_lever(args.add_lever, args.title, args.training_note)}")
        if args.check:
            stale = stale_regions()
            for region in stale:
                print(f"{region.document}: region '{region.name}' disagrees with docs/results/; "
                      "run python -m eval.results_tables --write", file=sys.stderr)
            return 1 if stale else 0
        changed = write_regions()
        print(f"rewrote generated regions of {', '.join(changed)}" if changed else "every generated region is current")
    except ResultsError as error:
        print(f"results_tables: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
