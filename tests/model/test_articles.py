"""The one article reader (model/articles.py): .txt files, JSONL articles, folders, dates, and its errors."""
import datetime as dt
import json

import pytest

from model.articles import ArticleDecodeError, ArticleFileError, decode_article, load_articles, parse_date


def test_dates_in_archive_formats():
    assert parse_date("2019-06-10") == dt.date(2019, 6, 10)
    assert parse_date("4-MAR-1987 ") == dt.date(1987, 3, 4)
    assert parse_date("2004/2005") is None


def test_article_files_and_their_errors(tmp_path):
    text = tmp_path / "memo.txt"
    text.write_text("Ankara said it would not back down.")
    assert [(a.article_id, a.date) for a in load_articles(text)] == [("memo", None)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"article_id": "a", "text": "Fine."}\n\n{"article_id": "b"}\n')
    with pytest.raises(ArticleFileError, match=r"bad.jsonl:3: field 'text' must be a non-empty string \(it is missing\)"):
        load_articles(bad)
    bad.write_text('{"article_id": "a", "text": "Fine.", "date": 2019}\n')
    with pytest.raises(ArticleFileError, match=r"bad.jsonl:1: field 'date' must be a string"):
        load_articles(bad)
    with pytest.raises(ArticleFileError, match="no such file"):
        load_articles(tmp_path / "absent.jsonl")


def test_a_folder_and_jsonl_without_ids(tmp_path):
    (tmp_path / "b.txt").write_text("Talks resume.")
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "Seoul warned."}) + "\n")
    with pytest.raises(ArticleFileError, match="a.jsonl:1: field 'article_id'"):
        load_articles(tmp_path)
    assert [a.article_id for a in load_articles(tmp_path, ids_required=False)] == ["b", f"{tmp_path / 'a.jsonl'}:1"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ArticleFileError, match="folder holds no"):
        load_articles(empty)


def test_one_decoding_rule_for_every_reader(tmp_path):
    assert decode_article(b"\xef\xbb\xbfTalks.", "x") == "Talks."
    with pytest.raises(ArticleDecodeError, match=r"x: byte 4 \(line 2\) is 0xe9"):
        decode_article(b"ok\nx\xe9", "x")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"article_id": "a", "text": "caf\xe9"}\n')
    with pytest.raises(ArticleFileError, match=f"{bad}:1: byte .* is not valid UTF-8"):
        load_articles(bad)
