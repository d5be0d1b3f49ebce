"""The `stance` command: train, evaluate, predict, export, serve, and measure sentence splitting.

One meaning per flag across subcommands: `--out` is where the command's product goes (its help
says whether a file or a folder), and `--backend`, `--threads`, `--min-confidence`,
`--max-articles` and `--verbose` mean the same wherever they appear.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from apps.scoring.archive_input import ArchiveInputError
from apps.scoring.archive_output import ArchiveOutputError
from apps.server.command import add_serve_command
from model.articles import DECODE_ERRORS, ArticleFileError, read_article
from model.base_model import BaseModelError
from model.calibration import CHOICES as CALIBRATION_CHOICES, CalibrationFileError
from model.classifier import ModelDirectoryError
from model.safe_weights import UnsafeWeightsError
from training.config import ConfigError, field_help
from training.data import DataError
from training.teacher_labels import TeacherLabelsError


class OutputPathError(ValueError):
    """--out names a path the product cannot be written to."""


USER_ERRORS = (OutputPathError, ConfigError, DataError, BaseModelError, ModelDirectoryError, FileNotFoundError, ArticleFileError,
               CalibrationFileError, ArchiveInputError, ArchiveOutputError, UnsafeWeightsError, TeacherLabelsError)


def _train(args: argparse.Namespace) -> None:
    from eval.post_training import train_and_report
    from training.config import load_config

    _print_training(train_and_report(load_config(args.config, args.overrides)))


def _distill(args: argparse.Namespace) -> None:
    from eval.post_training import train_and_report
    from training.config import load_config
    from training.distill import distillation_objective

    config = load_config(args.config, args.overrides)
    _print_training(train_and_report(config, objective=distillation_objective(args.teacher_dir, config, args.unlabelled)))


def _teacher_label(args: argparse.Namespace) -> None:
    from model.articles import load_articles
    from model.classifier import StanceClassifier
    from training.teacher_labels import label_articles, write_teacher_labels

    # PyTorch even where an int8 export exists: the targets should be the teacher's exact probabilities.
    teachers = [StanceClassifier.from_pretrained(d, backend="torch", threads=args.threads) for d in args.teacher_dirs]
    names = [Path(d).name for d in args.teacher_dirs]
    articles = load_articles(args.articles)
    labels = label_articles(teachers, articles, teacher_name=names[0] if len(names) == 1 else f"mean of {', '.join(names)}",
                            articles_file=Path(args.articles).name)
    write_teacher_labels(labels, args.out)
    print(f"{len(labels.rows)} sentences of {len(articles)} articles labelled by {' + '.join(args.teacher_dirs)}, written to {args.out}")


def _print_training(report) -> None:
    result = report.run
    for note in result.notes:
        print(f"note: {note}")
    print(f"model written to {result.output_dir} ({result.steps} steps, {result.seconds:.0f} s)")
    if result.best_dev_macro_f1 is not None:
        print(f"best dev macro-F1 {result.best_dev_macro_f1:.3f} at step {result.best_step}")
    if report.test:
        m = report.test.metrics
        print(f"test macro-F1 {m.macro_f1:.3f} (95% CI {m.macro_f1_ci[0]:.3f}-{m.macro_f1_ci[1]:.3f}), accuracy {m.accuracy:.3f}"
              if m.macro_f1_ci else f"test macro-F1 {m.macro_f1:.3f}, accuracy {m.accuracy:.3f}")
        for name, baseline in report.test.baselines.items():
            print(f"  baseline {name}: macro-F1 {baseline.macro_f1:.3f}")
    for path, extra in report.extra.items():
        print(f"{path}: macro-F1 {extra.metrics.macro_f1:.3f}, accuracy {extra.metrics.accuracy:.3f}")


def _evaluate(args: argparse.Namespace) -> None:
    from eval.evaluate import evaluate_model_dir

    out = args.out or str(Path(args.model_dir) / "eval" / Path(args.data).stem)
    result = evaluate_model_dir(args.model_dir, args.data, out, bootstrap_samples=args.bootstrap_samples,
                                backend=args.backend, threads=args.threads)
    m = result.metrics
    ci = f" (95% CI {m.macro_f1_ci[0]:.3f}-{m.macro_f1_ci[1]:.3f})" if m.macro_f1_ci else ""
    print(f"{args.data}: {m.n} sentences, macro-F1 {m.macro_f1:.3f}{ci}, accuracy {m.accuracy:.3f}")
    for label, c in m.per_class.items():
        print(f"  {label:13s} P {c['precision']:.3f}  R {c['recall']:.3f}  F1 {c['f1']:.3f}  n={c['support']}")
    for name, baseline in result.baselines.items():
        print(f"  baseline {name}: macro-F1 {baseline.macro_f1:.3f}")
    if result.calibration:
        c = result.calibration
        print(f"  expected calibration error {c.ece_before:.3f} raw, {c.ece_after:.3f} with {c.description or f'temperature {c.temperature:.2f}'}")
    print(f"report written to {out}/report.md")


def _load_classifier(args: argparse.Namespace):
    """The model named on the command line, on the backend and threads asked for."""
    from model.classifier import StanceClassifier

    return StanceClassifier.from_pretrained(args.model_dir, backend=args.backend, threads=args.threads)


def _deliver(text: str, out: str | None, what: str) -> None:
    """A command's product: written atomically to `out` (with a note saying so), else to standard output."""
    if out:
        from model.atomic_files import write_text_atomic

        if Path(out).is_dir():
            raise OutputPathError(f"--out {out} is a folder; give a file name, e.g. {Path(out) / 'article.html'}")

        write_text_atomic(out, text)
        print(f"{what} written to {out}")
    else:
        sys.stdout.write(text)


def _predict(args: argparse.Namespace) -> None:
    from apps.views.sentence_rows import render_csv, render_jsonl, render_table, sentence_rows

    if args.file == "-" and sys.stdin.isatty():
        print("stance predict: reading the article from the terminal; end it with Ctrl-D (or pass a file name)",
              file=sys.stderr)
    classifier = _load_classifier(args)
    text = read_article(args.file, args.errors)
    article_id = "stdin" if args.file == "-" else Path(args.file).stem
    if args.format == "html":
        from apps.views.html_view import article_page
        from model.model_dir import read_model_summary

        page = article_page(classifier, text, article_id, args.min_confidence, model=read_model_summary(args.model_dir))
        _deliver(page, args.out, "page")
        return
    rows = sentence_rows(classifier.predict(text, min_confidence=args.min_confidence), article_id)
    if not rows:
        print(f"stance predict: {args.file}: no sentences (the text is empty or only whitespace)", file=sys.stderr)
    rendered = {"table": lambda: render_table(rows), "jsonl": lambda: render_jsonl(rows),
                "csv": lambda: render_csv(rows, classifier.labels)}[args.format]()
    _deliver(rendered, args.out, f"{len(rows)} sentences ({args.format})")


def _profile(args: argparse.Namespace) -> None:
    from apps.views.profile import profile_article
    from apps.views.profile_report import plot_escalation, profile_table, write_profile_csv
    from model.articles import load_articles

    articles = [article for path in args.files for article in load_articles(path)]
    if args.max_articles:
        articles = articles[:args.max_articles]
    classifier = _load_classifier(args)
    profiles = [profile_article(classifier, a.text, a.article_id, a.date, args.min_confidence) for a in articles]
    print(profile_table(profiles))
    out = args.out or args.csv
    if out:
        write_profile_csv(profiles, out)
        print(f"profiles written to {out}")
    if args.plot:
        plot = plot_escalation(profiles, args.plot)
        undated = f" ({len(plot.undated)} without a single-day date left out: {', '.join(plot.undated)})" if plot.undated else ""
        print(f"plot of {plot.plotted} articles written to {plot.path}{undated}")


def _calibrate(args: argparse.Namespace) -> None:
    from eval.evaluate import calibrate_model_dir

    calibration, summary = calibrate_model_dir(args.model_dir, args.data, threads=args.threads, method=args.method)
    compared = "; ".join(f"{name}: negative log-likelihood {scores['nll']:.4f}, macro-F1 {scores['macro_f1']:.3f}"
                         for name, scores in calibration.comparison.items())
    print(f"{calibration.describe()} fitted on {calibration.sentences} sentences ({calibration.fitted_on})"
          + (f", chosen on held-out articles ({compared})" if compared else "") + "; "
          f"ECE there {summary.ece_before:.3f} -> {summary.ece_after:.3f}; written to {args.model_dir}/calibration.json "
          f"and folded into {args.model_dir}/model.safetensors")


def _suggest(args: argparse.Namespace) -> None:
    from training.suggest import load_unlabelled, suggest, write_suggestions

    candidates = load_unlabelled(args.corpus)
    if args.max_articles:
        kept: dict[str, None] = {}
        for c in candidates:
            if c.article_id not in kept and len(kept) == args.max_articles:
                break
            kept.setdefault(c.article_id)
        candidates = [c for c in candidates if c.article_id in kept]
    chosen = suggest(_load_classifier(args), candidates, args.sentences, max_per_article=args.max_per_article)
    if args.out:
        write_suggestions(chosen, args.out)
        print(f"{len(chosen)} of {len(candidates)} sentences suggested for labelling, written to {args.out}; "
              "fill in each 'label', then add the file to extra_data")
    else:
        for s in chosen:
            print(json.dumps(s.to_json(), ensure_ascii=False))


def _split_eval(args: argparse.Namespace) -> None:
    from eval.splitting import score_splitting_files

    s = score_splitting_files(Path(args.articles), Path(args.sentences))
    print(f"{s.articles} articles, {s.reference_sentences} reference sentences, {s.predicted_sentences} predicted")
    print(f"boundary precision {s.boundary_precision:.3f}, recall {s.boundary_recall:.3f}, F1 {s.boundary_f1:.3f}; "
          f"{s.exact_sentence_matches} sentences exactly right")


def _check_data(args: argparse.Namespace) -> None:
    from model.atomic_files import write_text_atomic
    from training.corpus_check import check_corpus, render_data_card
    from training.data import load_records

    report = check_corpus(args.corpus, args.contrast)
    shares = ", ".join(f"{label} {count / report.records:.1%}" for label, count in sorted(report.label_counts.items()))
    print(f"{args.corpus}: {report.records} sentences in {report.articles} articles ({shares})")
    if args.card:
        pairs = len({r.article_id for r in load_records(args.contrast)}) if args.contrast else None
        write_text_atomic(args.card, render_data_card(report, args.corpus, pairs))
        print(f"data card written to {args.card}")
    for problem in report.problems:
        print(f"problem: {problem}")
    if report.problems:
        raise SystemExit(1)
    print("no problems found")


def _export(args: argparse.Namespace) -> None:
    from model.export.onnx_export import OnnxExportError, export_onnx

    try:
        result = export_onnx(args.model_dir, int8=args.int8)
    except (ImportError, OnnxExportError) as error:
        raise SystemExit(f"stance export: error: {error}") from None
    for path in (result.fp32, result.int8):
        if path is not None:
            print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB)")
    if result.int8_recipe:
        print(f"int8: {result.int8_recipe}")
    print(f"export took {result.seconds:.0f} s; StanceClassifier.from_pretrained(backend='auto') now uses "
          f"{'the int8 model' if result.int8 else 'torch (export with --int8 for the fast path)'}")


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text}")
    return value


def _score(args: argparse.Namespace) -> None:
    from apps.scoring.archive_scoring import score_archive

    try:
        s = score_archive(args.model_dir, args.input, args.out, resume=args.resume, engine=args.engine,
                          workers=args.workers, address=args.address, backend=args.backend,
                          part_articles=args.part_articles, max_chars=args.max_chars, max_articles=args.max_articles,
                          threads=args.threads)
    except ImportError as error:
        raise SystemExit(f"stance score: error: {error}") from None
    print(f"{s.articles} articles, {s.sentences} sentences scored in {s.seconds:.0f} s ({s.sentences_per_s:.0f} sentences/s; "
          f"{s.steady_sentences_per_s:.0f}/s once loaded); {s.skipped_done} already done, {s.errors} errors")
    print(f"{s.out} now holds {s.total_articles} articles, {s.total_sentences} sentences"
          + (f"; bad records listed in {s.out}/_errors.jsonl" if s.errors else ""))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def package_version() -> str:
    """The installed stance-news version (from the package metadata, so it cannot drift from pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stance-news")
    except PackageNotFoundError:
        return "unknown (the package is not installed; pip install -e .)"


def _common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="also show the libraries' progress bars (e.g. transformers loading weights) (default: off)")
    return common


def _model_options() -> argparse.ArgumentParser:
    """MODEL_DIR and how to run it, for every subcommand that loads a trained model."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("model_dir", metavar="MODEL_DIR",
                         help="a model directory written by `stance train` (e.g. runs/default)")
    options.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto",
                         help="auto: ONNX int8 when `stance export --int8` wrote it and onnxruntime is installed, "
                              "else torch (default: auto)")
    options.add_argument("--threads", type=_positive_int,
                         help="inference threads (default: one per physical core)")
    return options


def _min_confidence(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-confidence", type=_probability, metavar="P",
                        help="label a sentence neutral (abstained) when its top probability is below P (default: none)")


def _max_articles(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--max-articles", type=_positive_int, metavar="N", help=f"{what} (default: all)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stance", description="Sentence-level stance classifier for news.",
                                     epilog="`stance COMMAND --help` documents every option of a command.")
    parser.add_argument("--version", action="version", version=f"stance {package_version()}",
                        help="print the package version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common, model = _common_options(), _model_options()

    fields = "\n".join(f"  {name}: {text}" for name, text in field_help().items())
    train = commands.add_parser("train", help="fine-tune a model from a YAML config", parents=[common],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=f"config fields (set in the YAML file or as key=value):\n{fields}")
    train.add_argument("config", help="YAML config, e.g. configs/default.yaml")
    train.add_argument("overrides", nargs="*", metavar="key=value",
                       help="override a config field (default: none; the model goes to the config's output_dir)")
    train.set_defaults(run=_train)

    distill = commands.add_parser("distill", help="train a (small) model on a teacher model's probabilities", parents=[common],
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  epilog="loss = distill_alpha * T^2 * KL(teacher_T || student_T) + (1 - distill_alpha) * "
                                         "CE(gold), T = distill_temperature; the other fields as for `stance train`")
    distill.add_argument("teacher_dir", help="a trained model directory (e.g. runs/accurate) whose probabilities the student learns")
    distill.add_argument("config", help="the student's YAML config, e.g. configs/default.yaml")
    distill.add_argument("overrides", nargs="*", metavar="key=value",
                         help="override a config field (default: none; the model goes to the config's output_dir)")
    distill.add_argument("--unlabelled", nargs="+", default=[], metavar="FILE",
                         help="extra unlabelled text for the teacher to label: .txt articles, or .jsonl with a 'text' "
                              "field per line (default: none)")
    distill.set_defaults(run=_distill)

    teacher_label = commands.add_parser(
        "teacher-label", parents=[common],
        help="record a (large) model's probabilities for every sentence of unlabelled articles, without their text",
        description="Writes the file that a config's teacher_labels field names: per sentence the article id, character "
                    "span, a hash of the sentence and the teacher's probabilities. Training joins the text back from "
                    "the articles file, so the file can be shared where the articles may not be.")
    teacher_label.add_argument("teacher_dirs", nargs="+", metavar="TEACHER_DIR",
                               help="the teacher's model directory (e.g. runs/accurate); several (a seed ensemble) "
                                    "record the mean of their probabilities")
    teacher_label.add_argument("articles", help="JSON Lines of articles (article_id, text), or a .txt article")
    teacher_label.add_argument("--out", required=True, metavar="FILE",
                               help="the teacher-labels file to write (JSON Lines, replaced atomically) (required)")
    teacher_label.add_argument("--threads", type=_positive_int, default=None,
                               help="inference threads (default: one per physical core)")
    teacher_label.set_defaults(run=_teacher_label)

    evaluate = commands.add_parser("evaluate", help="score a trained model on labelled JSONL", parents=[common, model])
    evaluate.add_argument("data", help="labelled sentences (JSON Lines)")
    evaluate.add_argument("--out", metavar="DIR",
                          help="folder for the report (report.md, metrics.json, confusion.png, reliability.png, "
                               "predictions.jsonl) (default: MODEL_DIR/eval/<data file name>)")
    evaluate.add_argument("--bootstrap-samples", "--bootstrap", type=int, default=1000, metavar="N",
                          help="bootstrap resamples (by article) for the macro-F1 confidence interval; 0 skips it (default: 1000)")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="label every sentence of an article", parents=[common, model])
    predict.add_argument("file", nargs="?", default="-", help="article text file, or - for standard input (default: -)")
    predict.add_argument("--format", choices=["table", "jsonl", "csv", "html"], default="table",
                         help="table: for reading; jsonl and csv: one row per sentence with article_id and sentence_id "
                              "(from 1); html: one self-contained page with highlighted sentences, profile and "
                              "explanations (default: table)")
    predict.add_argument("--out", metavar="FILE", help="write the output, in any --format, to this file (default: standard output)")
    _min_confidence(predict)
    predict.add_argument("--errors", choices=DECODE_ERRORS, default="strict",
                         help="bytes that are not UTF-8: 'strict' stops naming the byte, 'replace' reads on with U+FFFD "
                              "(default: strict)")
    predict.set_defaults(run=_predict)

    profile = commands.add_parser("profile", help="stance counts, mix and escalation score per article (docs/PROFILE.md)",
                                  parents=[common, model])
    profile.add_argument("files", nargs="+", help=".txt files (one article each) or JSONL articles (article_id, text, optional date)")
    profile.add_argument("--out", metavar="FILE.csv",
                         help="write the per-article table as CSV to this file (default: print the table only)")
    profile.add_argument("--csv", metavar="FILE.csv", help="the same as --out (kept for older scripts) (default: none)")
    profile.add_argument("--plot", metavar="FILE.png",
                         help="write a PNG of the escalation score over time (input order when undated) (default: none)")
    _min_confidence(profile)
    _max_articles(profile, "profile only the first N articles of the input")
    profile.set_defaults(run=_profile)

    calibrate = commands.add_parser("calibrate", help="fit the map (temperature or vector scaling) that calibrates a "
                                    "model's probabilities", parents=[common])
    calibrate.add_argument("model_dir", metavar="MODEL_DIR",
                           help="a directory written by `stance train`; calibration.json is written into it and the "
                                "map folded into its model.safetensors")
    calibrate.add_argument("--method", choices=CALIBRATION_CHOICES, default="auto",
                           help="'temperature' (labels unchanged), 'vector' (a scale and a shift per class), or 'auto': "
                                "vector only where it predicts held-out articles better (default: auto)")
    calibrate.add_argument("data", nargs="?", help="labelled JSONL to fit on (default: the model's own dev split)")
    calibrate.add_argument("--threads", type=_positive_int, help="inference threads (default: one per physical core)")
    calibrate.set_defaults(run=_calibrate)

    suggest = commands.add_parser("suggest", help="pick the unlabelled sentences most worth labelling next",
                                  parents=[common, model])
    suggest.add_argument("corpus", help="JSONL of articles (article_id, text) or of split sentences, a .txt article, or a folder of them")
    suggest.add_argument("-n", "--sentences", type=_positive_int, default=50, metavar="N",
                         help="how many sentences to suggest (default: 50)")
    suggest.add_argument("--out", metavar="FILE", help="write the suggestions (JSONL, label left empty) to this file (default: standard output)")
    suggest.add_argument("--max-per-article", type=_positive_int, default=None, metavar="N",
                         help="cap per article (default: twice an even share, at least 2)")
    _max_articles(suggest, "choose only among the first N articles of the input")
    suggest.set_defaults(run=_suggest)

    split_eval = commands.add_parser("split-eval", help="sentence-boundary precision/recall against reference sentences",
                                     parents=[common])
    split_eval.add_argument("articles", help="JSONL of raw articles (article_id, text)")
    split_eval.add_argument("sentences", help="JSONL of reference sentences (article_id, text), in order")
    split_eval.set_defaults(run=_split_eval)

    check = commands.add_parser("check-data", help="validate the corpus and contrast set; write the data card", parents=[common])
    check.add_argument("corpus", help="corpus file or directory (e.g. data/corpus)")
    check.add_argument("--contrast", help="contrast set to check against the corpus, e.g. data/contrast.jsonl (default: none)")
    check.add_argument("--card", help="write the data card (Markdown) here, e.g. data/README.md (default: none)")
    check.set_defaults(run=_check_data)

    export = commands.add_parser("export", help="export a trained model to ONNX for fast CPU serving", parents=[common])
    export.add_argument("model_dir", metavar="MODEL_DIR",
                        help="a directory written by `stance train`; the ONNX files are written into it")
    export.add_argument("--int8", action="store_true",
                        help="also write model.int8.onnx, dynamically quantised (the fastest CPU path, used by default "
                             "when present) (default: fp32 only)")
    export.set_defaults(run=_export)

    score = commands.add_parser("score", help="label every sentence of a news archive into Parquet or JSONL parts",
                                parents=[common, model])
    score.add_argument("input", help="JSONL of articles (article_id, text; other fields carried through) or a folder of .txt")
    score.add_argument("--out", required=True, metavar="DIR",
                       help="output folder, named *.parquet or *.jsonl: part files, _manifest.jsonl, _errors.jsonl (required)")
    score.add_argument("--resume", action="store_true",
                       help="continue an interrupted job: skip the articles already written (default: start a new job)")
    score.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="this process, or a pool of Ray actors (default: local)")
    score.add_argument("--address", help="Ray cluster address (e.g. ray://head:10001 or auto) (default: start Ray here)")
    score.add_argument("--workers", type=_positive_int,
                       help="Ray actors, one CPU each (default: physical cores here, or the cluster's CPUs)")
    score.add_argument("--part-articles", type=_positive_int, default=500,
                       help="articles per part file, the unit --resume redoes (default: 500)")
    score.add_argument("--max-chars", type=_positive_int, default=200_000,
                       help="longer articles go to the errors file (default: 200000)")
    _max_articles(score, "stop after scoring N articles (resume later)")
    score.set_defaults(run=_score)

    add_serve_command(commands, _positive_int, parents=[common, model])
    return parser


def quiet_library_progress(verbose: bool) -> None:
    """Library progress bars (transformers loading weights, datasets mapping) only when asked for:
    they describe the library's work, not the command's, and bury its output."""
    from huggingface_hub import utils as hub_utils  # transformers reads this switch when it is imported

    (hub_utils.enable_progress_bars if verbose else hub_utils.disable_progress_bars)()
    if "transformers" in sys.modules:  # already imported (e.g. a test calling main): switch it directly
        from transformers.utils import logging as transformers_logging

        (transformers_logging.enable_progress_bar if verbose else transformers_logging.disable_progress_bar)()
    if "datasets" in sys.modules:
        import datasets

        (datasets.enable_progress_bars if verbose else datasets.disable_progress_bars)()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_library_progress(args.verbose)
    try:
        args.run(args)
    except USER_ERRORS as error:
        print(f"stance {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`; not an error
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
