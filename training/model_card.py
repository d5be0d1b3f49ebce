"""The short model card written into every trained model directory."""
from __future__ import annotations

from model.labels import LABELS
from training.config import TrainConfig, parse_source


def render_model_card(config: TrainConfig, summary: dict, train_counts: dict[str, int]) -> str:
    """Markdown: what the model is, what it was trained on, how it scored, how to use it."""
    t = summary["training"]
    lines = [
        "# Stance classifier",
        "",
        "Labels every sentence of a news article with the stance a party in a dispute takes toward",
        f"another: {', '.join(LABELS)}.",
        "",
        f"- {'Continued from' if config.init_from else 'Base model:'} `{config.init_from or config.base_model}`, fine-tuned for "
        f"{t['steps']} steps ({t['seconds']:.0f} s), {_seed_text(config)}, context: {config.context}, "
        f"arithmetic: {t.get('precision', 'fp32')}{', word embeddings frozen' if config.freeze_word_embeddings else ''}"
        f"{f', weights averaged over the steps (ema_decay {config.ema_decay:g})' if config.ema_decay else ''}",
        f"- Training data: {t['train_sentences']} labelled sentences per epoch in {t['train_articles']} articles "
        f"({', '.join(f'{k} {v}' for k, v in train_counts.items())}), from:",
    ]
    data = summary.get("data", training_data_summary(config, []))
    lines += [f"  - `{s['path']}`, weight {s['weight']:g}{' (its held-out articles are the dev split)' if s.get('dev') else ''}"
              for s in data["sources"]]
    if data.get("teacher_labels"):
        lines.append(f"  - teacher probabilities `{data['teacher_labels']}` for the sentences of `{data['teacher_articles']}`, "
                     f"weight {data['teacher_weight']:g} (distillation: T = {config.distill_temperature:g}, alpha = {config.distill_alpha:g})")
    lines += [f"  - left out: {note}" for note in data.get("notes", [])]
    lines.append(f"- Held out by article: {t['dev_articles']} dev articles (early stopping, calibration), {t['test_articles']} test articles")
    calibration = t.get("calibration")
    if calibration:
        compared = "; ".join(f"{name} {scores['nll']:.3f} / {scores['macro_f1']:.3f}"
                             for name, scores in calibration.get("held_out_comparison", {}).items())
        how = "vector scaling (a scale and a shift per class)" if calibration["method"] == "vector" \
            else f"temperature scaling (T = {calibration['temperature']:.2f})"
        lines.append(f"- Calibrated on the dev split by {how}" + (f"; on held-out dev articles, negative log-likelihood / macro-F1: {compared}" if compared else ""))
    if summary["dev"]["best_macro_f1"] is not None:
        lines.append(f"- Best dev macro-F1: {summary['dev']['best_macro_f1']:.3f} at step {summary['dev']['best_step']}")
    test = summary.get("test")
    if test:
        per_class = ", ".join(f"{label} {test['per_class'][label]['f1']:.3f}" for label in LABELS)
        lines.append(f"- Test macro-F1: {test['macro_f1']:.3f}, accuracy {test['accuracy']:.3f} (F1 {per_class})")
    for path, result in summary.get("extra_eval", {}).items():
        lines.append(f"- `{path}`: macro-F1 {result['macro_f1']:.3f}, accuracy {result['accuracy']:.3f}")
    lines += [
        "",
        "The test set is written by the same team as the training set; expect lower scores on real",
        "wire copy. Scores on real articles are in the project README.",
        "",
        "## Use",
        "",
        "```python",
        "from model import StanceClassifier",
        "clf = StanceClassifier.from_pretrained(\"<this directory>\")",
        "for s in clf.predict(article_text):",
        "    print(s.label, s.text)",
        "```",
        "",
        "It also loads in `transformers.pipeline(\"text-classification\", model=\"<this directory>\", top_k=None)`",
        "for single sentences, with the same calibrated probabilities and labels (the calibration map is folded into the weights).",
    ]
    return "\n".join(lines) + "\n"


def training_data_summary(config: TrainConfig, notes: list[str]) -> dict:
    """Every source that trained the model with its weight, the teacher labels, and what was left out."""
    main = parse_source(config.data, "data")
    sources = [{"path": main.path, "weight": main.weight, "dev": False}]
    for entry in config.extra_data:
        source = parse_source(entry, "extra_data")
        sources.append({"path": source.path, "weight": source.weight, "dev": bool(config.extra_dev_fraction)})
    return {"sources": sources, "teacher_labels": config.teacher_labels or None,
            "teacher_articles": config.teacher_articles or None, "teacher_weight": config.teacher_weight, "notes": list(notes)}


def _seed_text(config: TrainConfig) -> str:
    """'seed 13', or both seeds where a seed-ensemble member trains with its own."""
    if config.train_seed < 0:
        return f"seed {config.seed}"
    return f"split seed {config.seed}, training seed {config.train_seed}"
