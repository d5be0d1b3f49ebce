"""The adaptation curve end to end on tiny data: folds by article, every condition scored."""
from eval.adaptation_curve import adaptation_curve, article_folds
from training.data import load_records


def test_article_folds_are_disjoint_and_cover_every_article(tiny_corpus):
    records = load_records(tiny_corpus)
    folds = article_folds(records, 4, seed=1)
    assert sum(len(f) for f in folds) == len({r.article_id for r in records}) == len(set().union(*folds))
    assert all(folds)


def test_curve_on_tiny_data_writes_table_plot_and_numbers(tiny_model, tiny_corpus, own_news, tmp_path):
    # own_news stands in for real news: articles the tiny corpus (and so the tiny model) lacks.
    conditions = adaptation_curve(str(own_news), str(tiny_model), str(tiny_corpus), str(tmp_path / "out"), folds=2, sizes=(3,),
                                  random_seeds=1, overrides=["max_steps=1", "max_length=32"], work_dir=str(tmp_path))
    assert [c.name for c in conditions] == ["default model", "suggest 3", "random 3 (seed 0)", "all labels"]
    assert all(0 <= c.pooled_macro_f1 <= 1 and len(c.fold_macro_f1) == 2 for c in conditions)
    assert conditions[1].labels_used == [3, 3]
    for name in ("adaptation_curve.md", "adaptation_curve.png", "adaptation_curve.json"):
        assert (tmp_path / "out" / name).is_file()
    assert "suggest 3" in (tmp_path / "out" / "adaptation_curve.md").read_text()
