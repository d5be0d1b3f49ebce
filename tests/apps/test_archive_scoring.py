"""`stance score` on one machine: every sentence of every article written once, bad records in
the errors file, and a job killed mid-run resumed without losing or repeating an article."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.cli import main
from apps.scoring.archive_output import ERRORS_FILE, MANIFEST_FILE, SUMMARY_FILE, read_score_rows
from apps.scoring.archive_scoring import score_archive
from conftest import ROOT, corpus_article_texts
from model import StanceClassifier, split_sentences


def write_archive(path: Path, articles: dict[str, str], bad_lines: tuple[str, ...] = ()) -> Path:
    """A JSONL archive: one article a line with a carried `source` field, then `bad_lines`."""
    lines = [json.dumps({"article_id": key, "text": text, "source": f"wire-{i % 3}", "label": "not ours"})
             for i, (key, text) in enumerate(articles.items())]
    path.write_text("\n".join([*lines, *bad_lines]) + "\n", encoding="utf-8")
    return path


def row_key(row: dict) -> tuple[str, int]:
    return row["article_id"], row["sentence_id"]


def test_every_sentence_scored_once_and_bad_records_listed(tiny_model, tmp_path):
    articles = corpus_article_texts(6)
    bad = ('{"article_id": "no-text", "text": 42}', '{"article_id": "cut-off", "text": "Seoul sa',
           json.dumps({"article_id": "huge", "text": "Talks resumed. " * 600}),
           json.dumps({"article_id": next(iter(articles)), "text": "A second copy."}))
    archive = write_archive(tmp_path / "archive.jsonl", articles, bad)
    summary = score_archive(tiny_model, archive, tmp_path / "scores.parquet", part_articles=4, max_chars=8000,
                            progress=False)

    rows = read_score_rows(tmp_path / "scores.parquet")
    classifier = StanceClassifier.from_pretrained(tiny_model)
    assert summary.articles == 6 and summary.errors == 4 and summary.sentences == len(rows)
    assert sorted({r["article_id"] for r in rows}) == sorted(articles)
    assert len({row_key(r) for r in rows}) == len(rows)
    for article_id, text in articles.items():
        mine = sorted((r for r in rows if r["article_id"] == article_id), key=row_key)
        expected = classifier.predict(text)
        assert [r["sentence_id"] for r in mine] == list(range(1, len(split_sentences(text)) + 1))  # from 1, as predict
        assert [(r["text"], r["start"], r["end"], r["label"]) for r in mine] == [(p.text, p.start, p.end, p.label) for p in expected]
        for r, p in zip(mine, expected):
            assert [r[f"p_{label}"] for label in classifier.labels] == pytest.approx([p.probabilities[label] for label in classifier.labels], abs=1e-6)
            assert r["source"].startswith("wire-") and r["article_label"] == "not ours"  # carried; clashing name renamed

    errors = [json.loads(line) for line in (tmp_path / "scores.parquet" / ERRORS_FILE).read_text().splitlines()]
    assert [(e["line"], e["article_id"]) for e in errors] == [(7, "no-text"), (8, None), (9, "huge"), (10, next(iter(articles)))]
    assert "'text' must be a string" in errors[0]["reason"] and "not valid JSON" in errors[1]["reason"]
    assert "more than the limit of 8000" in errors[2]["reason"] and "duplicate article_id (first on line 1)" in errors[3]["reason"]
    parts = sorted(p.name for p in (tmp_path / "scores.parquet").glob("part-*"))
    assert parts == ["part-00000.parquet", "part-00001.parquet"]  # 4 articles a part


def test_txt_folder_to_jsonl_matches_jsonl_input(tiny_model, tmp_path):
    articles = corpus_article_texts(3)
    folder = tmp_path / "articles"
    folder.mkdir()
    for key, text in articles.items():
        (folder / f"{key}.txt").write_text(text, encoding="utf-8")
    score_archive(tiny_model, folder, tmp_path / "from_txt.jsonl", progress=False)
    score_archive(tiny_model, write_archive(tmp_path / "a.jsonl", articles), tmp_path / "from_jsonl.parquet", progress=False)
    from_txt = sorted(read_score_rows(tmp_path / "from_txt.jsonl"), key=row_key)
    from_jsonl = sorted(read_score_rows(tmp_path / "from_jsonl.parquet"), key=row_key)
    columns = ["article_id", "sentence_id", "start", "end", "text", "label"]
    assert [[r[c] for c in columns] for r in from_txt] == [[r[c] for c in columns] for r in from_jsonl]
    assert from_txt[0]["p_neutral"] == pytest.approx(from_jsonl[0]["p_neutral"], abs=1e-6)


def test_resume_after_the_job_is_killed_loses_and_repeats_nothing(tiny_model, tmp_path):
    articles = corpus_article_texts(16)
    archive = write_archive(tmp_path / "archive.jsonl", articles, ('{"article_id": 7, "text": null}',))
    reference = tmp_path / "reference.parquet"
    score_archive(tiny_model, archive, reference, part_articles=1, progress=False)

    out = tmp_path / "scores.parquet"
    command = [sys.executable, "-m", "apps.cli", "score", str(tiny_model), str(archive), "--out", str(out),
               "--part-articles", "1"]
    job = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not ((out / MANIFEST_FILE).is_file() and (out / MANIFEST_FILE).read_text()) and job.poll() is None:
        assert time.monotonic() < deadline, "the job wrote no part within 5 minutes"
        time.sleep(0.02)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert not (out / SUMMARY_FILE).exists(), "the job finished before it could be killed"
    committed_before = len((out / MANIFEST_FILE).read_text().splitlines())
    assert 1 <= committed_before < len(articles)

    assert main(["score", str(tiny_model), str(archive), "--out", str(out), "--part-articles", "1"]) == 2  # no --resume
    summary = score_archive(tiny_model, archive, out, resume=True, part_articles=1, progress=False)
    assert summary.skipped_done >= committed_before and summary.skipped_done + summary.articles == len(articles)
    assert summary.total_articles == len(articles) and summary.errors == 1
    assert sorted(read_score_rows(out), key=row_key) == sorted(read_score_rows(reference), key=row_key)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_part_not_recorded_in_the_manifest_is_scored_again(tiny_model, tmp_path):
    """A run that died after renaming a part but while recording it (a torn manifest line)."""
    archive = write_archive(tmp_path / "archive.jsonl", corpus_article_texts(5))
    out = tmp_path / "scores.jsonl"
    first = score_archive(tiny_model, archive, out, part_articles=2, max_articles=4, progress=False)
    assert first.articles == 4 and sorted(p.name for p in out.glob("part-*")) == ["part-00000.jsonl", "part-00001.jsonl"]
    manifest = (out / MANIFEST_FILE).read_text().splitlines()
    (out / MANIFEST_FILE).write_text(manifest[0] + "\n" + manifest[1][:25])
    (out / ".part-00002.jsonl.123.tmp").write_text('{"article_id": "half')

    second = score_archive(tiny_model, archive, out, resume=True, part_articles=2, progress=False)
    assert (second.skipped_done, second.articles, second.total_articles) == (2, 3, 5)
    rows = read_score_rows(out)
    assert len({row_key(r) for r in rows}) == len(rows) == second.total_sentences
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("_")) == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]


def test_user_errors_exit_2(tiny_model, tmp_path, capsys):
    archive = write_archive(tmp_path / "archive.jsonl", corpus_article_texts(1))
    assert main(["score", str(tiny_model), str(archive), "--out", str(tmp_path / "scores.csv")]) == 2
    assert "must end in .parquet or .jsonl" in capsys.readouterr().err
    assert main(["score", str(tiny_model), str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "s.parquet")]) == 2
    assert "missing.jsonl does not exist" in capsys.readouterr().err and not (tmp_path / "s.parquet").exists()
    out = tmp_path / "s.jsonl"
    assert main(["score", str(tiny_model), str(archive), "--out", str(out)]) == 0
    other = write_archive(tmp_path / "other.jsonl", corpus_article_texts(2))
    assert main(["score", str(tiny_model), str(other), "--out", str(out), "--resume"]) == 2
    assert "cannot resume" in capsys.readouterr().err
