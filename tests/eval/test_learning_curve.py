from conftest import ROOT, tiny_overrides
from eval.learning_curve import learning_curve


def test_learning_curve_trains_each_share_and_writes_the_table(tiny_corpus, tmp_path):
    overrides = [o for o in tiny_overrides(tiny_corpus, tmp_path / "unused") if not o.startswith("output_dir")]
    points = learning_curve(str(ROOT / "configs" / "default.yaml"), str(tiny_corpus), [0.5, 1.0], str(tmp_path), overrides)
    assert [p.fraction for p in points] == [0.5, 1.0]
    assert points[0].train_sentences < points[1].train_sentences
    assert all(0 <= p.macro_f1 <= 1 for p in points)
    table = (tmp_path / "learning_curve.md").read_text()
    assert "| 50% |" in table and "| 100% |" in table
    assert (tmp_path / "learning_curve.png").stat().st_size > 0
