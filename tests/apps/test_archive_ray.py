"""`stance score --engine ray`: a local Ray instance with 2 actors writes the same rows, and
records the same bad lines, as the local scorer (about a minute: Ray starts slowly)."""
import json

import pytest

from apps.scoring.archive_output import ERRORS_FILE, read_score_rows
from apps.scoring.archive_scoring import score_archive
from conftest import corpus_article_texts

pytest.importorskip("ray.data", reason="Ray Data is an optional extra: pip install 'stance-news[ray]'")


def test_two_ray_workers_write_the_same_rows_as_the_local_scorer(tiny_model, tmp_path):
    lines = [json.dumps({"article_id": key, "text": text, "desk": i % 2 or None})
             for i, (key, text) in enumerate(corpus_article_texts(10).items())]
    lines.insert(3, '{"article_id": "broken", "text": ')
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join(lines) + "\n", encoding="utf-8")

    local = score_archive(tiny_model, archive, tmp_path / "local.parquet", progress=False)
    ray = score_archive(tiny_model, archive, tmp_path / "ray.parquet", engine="ray", workers=2, progress=False)

    assert (ray.workers, ray.articles, ray.sentences, ray.errors) == (2, 10, local.sentences, 1)
    key = lambda row: (row["article_id"], row["sentence_id"])  # noqa: E731  (the actors finish in any order)
    assert sorted(read_score_rows(tmp_path / "ray.parquet"), key=key) == sorted(read_score_rows(tmp_path / "local.parquet"), key=key)
    errors = [(tmp_path / name / ERRORS_FILE).read_text() for name in ("local.parquet", "ray.parquet")]
    assert errors[0] == errors[1] and '"line": 4' in errors[0]
