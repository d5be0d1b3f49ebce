import json

from apps.cli import main
from conftest import ROOT


def test_predict_table_and_jsonl(tiny_model, tmp_path, capsys):
    article = tmp_path / "article.txt"
    article.write_text("Seoul said it had no plans to retaliate.The union threatened a strike if pay talks failed.")
    assert main(["predict", str(tiny_model), str(article), "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["Seoul said it had no plans to retaliate.", "The union threatened a strike if pay talks failed."]
    assert main(["predict", str(tiny_model), str(article)]) == 0
    assert "Seoul said it had no plans to retaliate." in capsys.readouterr().out


def test_evaluate_command(tiny_model, tiny_corpus, tmp_path, capsys):
    assert main(["evaluate", str(tiny_model), str(tiny_corpus), "--out", str(tmp_path / "ev"), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "macro-F1" in out and "expected calibration error" in out and (tmp_path / "ev" / "metrics.json").is_file()


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    assert main(["train", str(ROOT / "configs" / "default.yaml"), "epochz=3"]) == 2
    assert "unknown key 'epochz'" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "no-model"), "-"]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"article_id": "a", "sentence_id": 0, "text": "x", "label": "hostile"}\n')
    assert main(["evaluate", str(tmp_path), str(bad)]) == 2
    assert f"{bad}:1: field 'label' is 'hostile'" in capsys.readouterr().err
