"""CPU serving benchmark (issue 4): transformers.pipeline against our torch, ONNX fp32, ONNX int8
and ONNX int8 with the fp32 recheck of near ties (what backend="auto" runs), on one trained model
and the same sentences, in one run. Prints a Markdown table.

    python bench/bench_inference.py MODEL_DIR [--dev ../shared/data/realnews_dev.jsonl] [--json docs/results/bench_inference.json]

MODEL_DIR needs model.onnx and model.int8.onnx (`stance export MODEL_DIR --int8`). Throughput
is measured in this process, the backends taking turns for each of 5 repeats so that load from
other work on the machine spreads over all of them; cold start and peak memory are measured in
a fresh subprocess per backend, which imports only what that backend needs.

With --json the figures are also written as JSON: docs/results/bench_inference.json is the
file the README's serving table is generated from (python -m eval.results_tables --write).

Not a test: it takes about a quarter of an hour on two cores.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEV = ROOT.parent / "shared" / "data" / "realnews_dev.jsonl"
AUTO = "onnx int8 + fp32 recheck (auto)"
BACKENDS = ("transformers.pipeline", "torch", "onnx fp32", "onnx int8", AUTO)
OUR_BACKENDS = {"torch": {"backend": "torch"}, "onnx fp32": {"backend": "onnx", "precision": "fp32"},
                "onnx int8": {"backend": "onnx", "precision": "int8"}, AUTO: {"backend": "auto"}}
MIN_SENTENCES = 5000
REPEATS = 5
PIPELINE_BATCH = 64


@dataclass
class DevSet:
    """The labelled dev sentences and the first article, rebuilt from its sentences."""

    texts: list[str]
    labels: list[str]
    first_article: str


@dataclass
class Row:
    """One backend's line of the table."""

    name: str
    sentences_per_s: float
    cold_start_s: float
    peak_rss_mb: float
    macro_f1: float
    agreement_with_torch: float = math.nan


def load_dev(path: Path) -> DevSet:
    """Read the dev JSONL (text, label, article_id per line)."""
    records = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    if not records:
        raise SystemExit(f"{path}: no sentences")
    first = records[0]["article_id"]
    article = " ".join(r["text"] for r in records if r["article_id"] == first)
    return DevSet([r["text"] for r in records], [r["label"] for r in records], article)


def make_runner(name: str, model_dir: Path):
    """A function from sentences to labels for backend `name`, loaded and ready."""
    if name == "transformers.pipeline":
        from transformers import pipeline

        classify = pipeline("text-classification", model=str(model_dir), device="cpu")
        return lambda texts: [out["label"] for out in classify(texts, batch_size=PIPELINE_BATCH)]
    from model import StanceClassifier

    classifier = StanceClassifier.from_pretrained(model_dir, **OUR_BACKENDS[name])
    run = lambda texts: [classifier.labels[i] for i in classifier.predict_proba(texts).argmax(axis=1)]  # noqa: E731
    run.backend = classifier.backend
    return run


def child(name: str, model_dir: Path, dev_path: Path) -> None:
    """In a fresh process: predict the first article (the cold start), then score the dev set
    once, and report the wall-clock time of the first predictions and the peak resident memory."""
    dev = load_dev(dev_path)
    if name == "transformers.pipeline":
        from model.sentences import split_sentences

        run = make_runner(name, model_dir)
        run([s.text for s in split_sentences(dev.first_article)])
    else:
        from model import StanceClassifier

        classifier = StanceClassifier.from_pretrained(model_dir, **OUR_BACKENDS[name])
        classifier.predict(dev.first_article)
        run = lambda texts: classifier.predict_proba(texts)  # noqa: E731
    first_predictions = time.time()
    run(dev.texts)
    print(json.dumps({"first_predictions": first_predictions,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure_in_subprocess(name: str, model_dir: Path, dev_path: Path) -> tuple[float, float]:
    """(cold start in s, peak RSS in MB) of backend `name` in a process of its own."""
    started = time.time()
    done = subprocess.run([sys.executable, __file__, str(model_dir), "--dev", str(dev_path), "--child", name],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{name} subprocess failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["first_predictions"] - started, report["peak_rss_mb"]


def throughput(runners: dict, sentences: list[str], repeats: int = REPEATS) -> dict[str, float]:
    """Median sentences/s over `repeats` timed runs of each backend, after one untimed warm-up."""
    from tqdm.auto import tqdm

    for run in runners.values():
        run(sentences[:PIPELINE_BATCH])
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    with tqdm(total=repeats * len(runners), desc="throughput", unit="run") as bar:
        for _ in range(repeats):
            for name, run in runners.items():
                bar.set_postfix(backend=name)
                started = time.perf_counter()
                run(sentences)
                seconds[name].append(time.perf_counter() - started)
                bar.update(1)
    return {name: len(sentences) / statistics.median(times) for name, times in seconds.items()}


def render(rows: list[Row], n_sentences: int, model_dir: Path, repeats: int = REPEATS) -> str:
    """The Markdown table, with the machine and the workload above it."""
    import numpy as np
    import onnxruntime
    import torch

    pipeline_speed = rows[0].sentences_per_s
    torch_f1 = next(r.macro_f1 for r in rows if r.name == "torch")
    lines = [
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; torch {torch.__version__}, "
        f"onnxruntime {onnxruntime.__version__}, numpy {np.__version__}; model {model_dir.name}; "
        f"{n_sentences} sentences, median of {repeats} runs",
        "",
        "| backend | sentences/s | × pipeline | cold start (s) | peak RSS (MB) | dev macro-F1 | Δ vs torch | same label as torch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r.name} | {r.sentences_per_s:.0f} | {r.sentences_per_s / pipeline_speed:.2f} | {r.cold_start_s:.2f} | "
                     f"{r.peak_rss_mb:.0f} | {r.macro_f1:.4f} | {r.macro_f1 - torch_f1:+.4f} | {r.agreement_with_torch:.1%} |")
    return "\n".join(lines)


def write_json(path: Path, rows: list[Row], n_sentences: int, model_dir: Path, repeats: int, recheck_share: float,
               argv: list[str]) -> None:
    """The run's figures as docs/results/bench_inference.json holds them (eval/results_tables.py reads it)."""
    from datetime import date

    from model.atomic_files import write_text_atomic
    from model.cpu_threads import physical_cores_available

    pipeline_speed = rows[0].sentences_per_s
    figures = {
        "command": "python bench/bench_inference.py " + " ".join(argv),
        "model": str(model_dir),
        "date": date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs",
        "physical_cores": physical_cores_available(),
        "sentences": n_sentences,
        "repeats": repeats,
        "recheck_share": recheck_share,
        "rows": [{"name": r.name, "sentences_per_s": r.sentences_per_s, "x_pipeline": r.sentences_per_s / pipeline_speed,
                  "cold_start_s": r.cold_start_s, "peak_rss_mb": r.peak_rss_mb, "macro_f1": r.macro_f1,
                  "same_label_as_torch": r.agreement_with_torch} for r in rows],
    }
    write_text_atomic(path, json.dumps(figures, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path, help="trained model directory with model.onnx and model.int8.onnx")
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV, help=f"labelled dev JSONL (default {DEFAULT_DEV})")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"timed runs per backend (default {REPEATS})")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the figures as JSON here, e.g. docs/results/bench_inference.json (default: print only)")
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.dev.is_file():
        parser.error(f"dev file {args.dev} does not exist; pass --dev PATH to a labelled JSONL file")
    if args.child:
        child(args.child, args.model_dir, args.dev)
        return 0
    missing = [f for f in ("model.safetensors", "model.onnx", "model.int8.onnx") if not (args.model_dir / f).is_file()]
    if missing:
        parser.error(f"{args.model_dir} lacks {', '.join(missing)}; run `stance export {args.model_dir} --int8` "
                     f"(on a copy if the directory must stay as it is)")

    from eval.metrics import macro_f1

    dev = load_dev(args.dev)
    sentences = dev.texts * math.ceil(MIN_SENTENCES / len(dev.texts))
    cold = {name: measure_in_subprocess(name, args.model_dir, args.dev) for name in BACKENDS}
    runners = {name: make_runner(name, args.model_dir) for name in BACKENDS}
    speed = throughput(runners, sentences, args.repeats)
    predicted = {name: run(dev.texts) for name, run in runners.items()}
    rows = []
    for name in BACKENDS:
        same = sum(a == b for a, b in zip(predicted[name], predicted["torch"])) / len(dev.texts)
        rows.append(Row(name, speed[name], *cold[name], macro_f1(dev.labels, predicted[name]), same))
    print(render(rows, len(sentences), args.model_dir, args.repeats))
    print(f"\nThe recheck recomputed {runners[AUTO].backend.recheck_share:.1%} of the sentences it saw in fp32.")
    if args.json:
        write_json(args.json, rows, len(sentences), args.model_dir, args.repeats, runners[AUTO].backend.recheck_share,
                   sys.argv[1:] if argv is None else argv)
        print(f"figures written to {args.json}; python -m eval.results_tables --write puts them into the README")
    return 0


if __name__ == "__main__":
    sys.exit(main())
