"""How much do an analyst's own labels buy, and does `stance suggest` choose them better than
chance? Article-grouped cross-validation over a labelled real-news set:

    python -m eval.adaptation_curve --dev ../shared/data/realnews_dev.jsonl --base runs/default --out docs

The articles are cut into folds. In each fold the held-out articles are the test; from the
other articles, 50, 100 and all labelled sentences are chosen by `suggest` (with the base
model) and at random, and the base model's fine-tuning continues on them mixed with a replay
sample of our corpus (the RECIPE below, overridable as key=value). Every dev sentence is
predicted once per condition; macro-F1 is pooled over the folds. Writes
adaptation_curve.{md,png,json} (numbers only: the dev text stays where it is).
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from eval.figures import plt, save_figure
from eval.metrics import macro_f1, score
from model.atomic_files import write_text_atomic
from model.classifier import StanceClassifier
from training.config import load_config
from training.data import Record, contexts_for, load_records
from training.suggest import candidates_from_records, suggest
from training.trainer import train

# Continued fine-tuning, kept cheap for a shared 2-core CPU: one pass over the own labels
# (each twice) mixed with as many corpus sentences replayed, a gentle learning rate, at most
# 40 steps of 16; no dev split (the labels are too few to spare), so the last step is kept.
RECIPE = ["learning_rate=3e-5", "epochs=1", "max_steps=40", "warmup_ratio=0.1", "batch_size=16",
          "dev_fraction=0", "test_fraction=0", "extra_eval=[]", "bootstrap_samples=0", "patience=0"]
USER_WEIGHT = 2
REPLAY_PER_LABEL = 1  # corpus sentences replayed per own label


@dataclass
class Condition:
    """One way of choosing labels (or none), scored over all folds."""

    name: str
    chooser: str  # "none", "suggest", "random", "all"
    size: str  # "0", "50", "100", "all"
    seed: int = 0  # which random draw
    labels_used: list[int] = field(default_factory=list)
    fold_macro_f1: list[float] = field(default_factory=list)
    pooled_macro_f1: float = 0.0
    pooled_ci: tuple[float, float] | None = None
    per_class_f1: dict[str, float] = field(default_factory=dict)


def article_folds(records: list[Record], folds: int, seed: int) -> list[set[str]]:
    """Articles dealt into `folds` groups of similar sentence count (largest first, seeded ties)."""
    sizes: dict[str, int] = {}
    for r in records:
        sizes[r.article_id] = sizes.get(r.article_id, 0) + 1
    articles = sorted(sizes)
    random.Random(seed).shuffle(articles)
    groups: list[set[str]] = [set() for _ in range(folds)]
    totals = [0] * folds
    for article in sorted(articles, key=lambda a: -sizes[a]):
        smallest = totals.index(min(totals))
        groups[smallest].add(article)
        totals[smallest] += sizes[article]
    return groups


def _choose(chooser: str, size: int | None, pool: list[Record], base: StanceClassifier, seed: int) -> list[Record]:
    if chooser == "all" or size is None or size >= len(pool):
        return pool
    if chooser == "random":
        return random.Random(seed).sample(pool, size)
    by_key = {(r.article_id, r.sentence_id): r for r in pool}
    return [by_key[(s.candidate.article_id, s.candidate.sentence_id)]
            for s in suggest(base, candidates_from_records(pool), size)]


def _write_jsonl(records: list[Record], path: Path) -> None:
    path.write_text("".join(json.dumps({"article_id": r.article_id, "sentence_id": r.sentence_id, "text": r.text,
                                        "label": r.label, "secondary": r.secondary}, ensure_ascii=False) + "\n"
                            for r in records), encoding="utf-8")


def _load(model_dir: str | Path, threads: int) -> StanceClassifier:
    classifier = StanceClassifier.from_pretrained(model_dir, backend="torch")
    if threads:  # loading sets one thread per core; on a crowded machine fewer run faster
        torch.set_num_threads(threads)
    return classifier


def _predict(classifier: StanceClassifier, records: list[Record]) -> list[str]:
    probabilities = classifier.predict_proba([r.text for r in records], contexts_for(records, classifier.context))
    return [classifier.labels[int(i)] for i in probabilities.argmax(axis=1)]


def adaptation_curve(dev_path: str, base_dir: str, corpus: str, out_dir: str, folds: int = 4, sizes: tuple[int, ...] = (50, 100),
                     random_seeds: int = 2, seed: int = 13, overrides: list[str] | None = None,
                     work_dir: str | None = None, threads: int = 0) -> list[Condition]:
    dev = load_records(dev_path)
    corpus_size = len(load_records(corpus))
    base = _load(base_dir, threads)
    groups = article_folds(dev, folds, seed)
    conditions = [Condition("default model", "none", "0")]
    for size in sizes:
        conditions.append(Condition(f"suggest {size}", "suggest", str(size)))
        conditions += [Condition(f"random {size} (seed {s})", "random", str(size), s) for s in range(random_seeds)]
    conditions.append(Condition("all labels", "all", "all"))
    predicted: dict[str, dict[tuple[str, int], str]] = {c.name: {} for c in conditions}
    runs = [(k, c) for k in range(folds) for c in conditions if c.chooser != "none"]
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="adaptation-") as scratch:
        bar = tqdm(total=len(runs), desc="adaptation runs", unit="run")
        for k, test_ids in enumerate(groups):
            test = [r for r in dev if r.article_id in test_ids]
            pool = [r for r in dev if r.article_id not in test_ids]
            for c in conditions:
                if c.chooser == "none":
                    chosen_preds = _predict(base, test)
                else:
                    chosen = _choose(c.chooser, None if c.size == "all" else int(c.size), pool, base, seed + 100 * k + c.seed)
                    labels_file = Path(scratch) / f"fold{k}-{c.chooser}-{c.size}-{c.seed}.jsonl"
                    _write_jsonl(chosen, labels_file)
                    run_dir = Path(scratch) / "run"
                    config = load_config(None, RECIPE + (overrides or []) + [
                        f"init_from={base_dir}", f"data={corpus}:{REPLAY_PER_LABEL * len(chosen) / corpus_size:.6f}",
                        "extra_data=" + json.dumps([f"{labels_file}:{USER_WEIGHT}"]), f"output_dir={run_dir}",
                        f"seed={seed + k}", f"num_threads={threads}"])
                    train(config, progress=False)
                    chosen_preds = _predict(_load(run_dir, threads), test)
                    c.labels_used.append(len(chosen))
                    bar.update(1)
                    bar.set_postfix(fold=k, condition=c.name)
                predicted[c.name].update({(r.article_id, r.sentence_id): p for r, p in zip(test, chosen_preds)})
                c.fold_macro_f1.append(macro_f1([r.label for r in test], chosen_preds))
            # Written after every fold, so that a long run stopped early still leaves its numbers.
            scored = [r for r in dev if (r.article_id, r.sentence_id) in predicted[conditions[0].name]]
            _pool(conditions, predicted, scored, seed)
            _write(conditions, Path(out_dir), dev_path, folds, k + 1, overrides or [])
        bar.close()
    for c in conditions:
        print(f"{c.name}: pooled macro-F1 {c.pooled_macro_f1:.3f}, folds {', '.join(f'{x:.3f}' for x in c.fold_macro_f1)}")
    return conditions


def _pool(conditions: list[Condition], predicted: dict[str, dict[tuple[str, int], str]], records: list[Record], seed: int) -> None:
    """Score every condition on all `records`, each predicted by the run that held its fold out."""
    for c in conditions:
        m = score([r.label for r in records], [predicted[c.name][(r.article_id, r.sentence_id)] for r in records],
                  [r.article_id for r in records], 1000, seed)
        c.pooled_macro_f1, c.pooled_ci = m.macro_f1, m.macro_f1_ci
        c.per_class_f1 = {label: v["f1"] for label, v in m.per_class.items()}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _write(conditions: list[Condition], out: Path, dev_path: str, folds: int, done: int, overrides: list[str]) -> None:
    recipe = " ".join(RECIPE + overrides + [f"extra_data=[LABELS:{USER_WEIGHT}]"])
    progress = "" if done == folds else f"; only {done} of the {folds} folds run, so pooled over their held-out articles"
    lines = [f"# Adaptation curve on `{Path(dev_path).name}` ({folds}-fold, grouped by article{progress})", "",
             f"Recipe per run: `{recipe}`, continuing from the base model, with {REPLAY_PER_LABEL} corpus "
             "sentence(s) replayed per own label. Pooled: every dev sentence predicted once per condition, "
             "by the run whose fold held it out.", "",
             "| condition | labels per fold (mean) | pooled macro-F1 (95% CI) | mean of fold macro-F1 | " + " | ".join(
                 f"F1 {label}" for label in conditions[0].per_class_f1) + " |",
             "|---|---|---|---|" + "---|" * len(conditions[0].per_class_f1)]
    for c in conditions:
        ci = f" ({c.pooled_ci[0]:.3f}-{c.pooled_ci[1]:.3f})" if c.pooled_ci else ""
        used = f"{_mean(c.labels_used):.0f}" if c.labels_used else "0"
        lines.append(f"| {c.name} | {used} | {c.pooled_macro_f1:.3f}{ci} | {_mean(c.fold_macro_f1):.3f} | "
                     + " | ".join(f"{v:.3f}" for v in c.per_class_f1.values()) + " |")
    write_text_atomic(out / "adaptation_curve.md", "\n".join(lines) + "\n")
    write_text_atomic(out / "adaptation_curve.json", json.dumps({"folds": folds, "folds_done": done,
                                                                "conditions": [asdict(c) for c in conditions]}, indent=2))

    def x_of(c: Condition) -> float:
        return _mean(c.labels_used) if c.labels_used else 0.0

    base = next(c for c in conditions if c.chooser == "none")
    every = next(c for c in conditions if c.chooser == "all")
    fig, ax = plt.subplots(figsize=(6, 4))
    for chooser, style in (("suggest", "o-"), ("random", "s--")):
        chosen = [c for c in conditions if c.chooser == chooser]
        sizes = sorted({c.size for c in chosen}, key=int)
        xs = [0.0] + [_mean([x_of(c) for c in chosen if c.size == s]) for s in sizes] + [x_of(every)]
        ys = [base.pooled_macro_f1] + [_mean([c.pooled_macro_f1 for c in chosen if c.size == s]) for s in sizes] + [every.pooled_macro_f1]
        ax.plot(xs, ys, style, label=f"chosen by {chooser}" + (" (mean of seeds)" if chooser == "random" else ""), linewidth=2)
        if chooser == "random":
            for c in chosen:
                ax.plot(x_of(c), c.pooled_macro_f1, ".", color="grey")
    ax.set_xlabel("own labelled sentences added (per fold)")
    ax.set_ylabel("macro-F1 on held-out real articles (pooled)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out / "adaptation_curve.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", required=True, help="labelled real-news JSONL (cross-validated by article)")
    parser.add_argument("--base", required=True, help="trained model directory to adapt (read only)")
    parser.add_argument("--corpus", default="data/corpus", help="our corpus, replayed at a small weight")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--random-seeds", type=int, default=2)
    parser.add_argument("--out", default="runs/adaptation", help="where adaptation_curve.{md,png,json} go")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: one per core; 1 is faster on a crowded machine)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="change the recipe, e.g. max_steps=24")
    args = parser.parse_args()
    adaptation_curve(args.dev, args.base, args.corpus, args.out, args.folds, tuple(args.sizes), args.random_seeds,
                     overrides=args.overrides, threads=args.threads)


if __name__ == "__main__":
    main()
