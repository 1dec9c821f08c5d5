"""benchmarks/recipe_search.py: the rules of benchmarks/recipe_search.md, applied to tables."""

import doctest
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("recipe_search", ROOT / "benchmarks/recipe_search.py")
search = importlib.util.module_from_spec(spec)
spec.loader.exec_module(search)


def table(rows):
    """Rows of (change, seed, validation accuracy after epoch 4) as the script writes them."""
    return pd.DataFrame([{"change": c, "seed": s, "epochs": 4, "val_acc_4": a} for c, s, a in rows])


def test_examples_in_docstrings_hold():
    assert doctest.testmod(search).failed == 0


def test_screen_takes_the_best_level_of_each_setting_past_the_margin():
    t = table([("none", 0, 0.800), ("lr=0.04", 0, 0.815), ("lr=0.01", 0, 0.830),
               ("augment=False", 0, 0.809), ("label_smoothing=0.0", 0, 0.812),
               ("schedule=cosine", 0, 0.790), ("none", 1, 0.99)])  # fmt: skip
    arms, chosen = search.screen(t)
    assert sorted(chosen) == ["label_smoothing=0.0", "lr=0.01"]  # 0.009 < 0.01 is not enough
    assert len(arms) == 5 and arms.minus_base.round(3).tolist()[0] == 0.015


def test_nothing_past_the_margin_keeps_todays_recipe():
    t = table([("none", 0, 0.80), ("lr=0.04", 0, 0.805), ("none", 1, 0.79), ("none", 2, 0.81)])
    assert search.screen(t)[1] == []
    assert "today's Recipe() stays; its seeds so far: [0, 1, 2]" in search.decide(t)


@pytest.mark.parametrize(
    ("candidate_accs", "adopted"),
    [((0.81, 0.82, 0.79), True), ((0.85, 0.78, 0.78), False), ((0.81, 0.80, 0.70), False)],
)
def test_confirmation_needs_a_higher_mean_and_two_wins(candidate_accs, adopted):
    today = (0.80, 0.80, 0.80)
    rows = [("none", s, a) for s, a in enumerate(today)]
    rows += [("lr=0.01", s, a) for s, a in enumerate(candidate_accs)]
    pairs, verdict = search.confirm(table(rows), "lr=0.01")
    assert verdict is adopted and list(pairs.index) == [0, 1, 2]


def test_decide_waits_for_three_seeds_of_the_candidate():
    t = table([("none", 0, 0.80), ("lr=0.01", 0, 0.83), ("none", 1, 0.8), ("lr=0.01", 1, 0.8)])
    assert search.decide(t).endswith("confirmation: not yet run at 3 seeds")


def test_command_line_asks_for_folders_or_a_table(capsys):
    with pytest.raises(SystemExit) as exit_:
        search.main([])
    assert exit_.value.code == 2 and "--decide CSV" in capsys.readouterr().err
