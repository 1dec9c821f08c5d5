"""The tables of facts the lessons read (``alexnet_lesson/tables/*.csv``): every row sourced,
the shapes the lessons rely on, and the numbers that must agree between tables."""

import pandas as pd
import pytest

from alexnet_lesson import tables


@pytest.mark.parametrize("name", tables.names())
def test_every_table_has_a_source_on_every_row(name):
    t = tables.read(name)
    assert len(t) > 0 and "source" in t.columns
    assert t.source.map(lambda s: isinstance(s, str) and len(s.strip()) > 5).all(), name
    assert not t.source.str.contains("alexnet_lesson|notebooks/|\\.ipynb").any(), name


def test_paper_table_1():
    t = tables.read("ilsvrc2010")
    assert t.model.tolist() == ["Sparse coding", "SIFT + FVs", "CNN (AlexNet)"]
    assert (t.top5_test < t.top1_test).all() and t.top5_test.is_monotonic_decreasing
    assert t.set_index("model").loc["CNN (AlexNet)", ["top1_test", "top5_test"]].tolist() == [
        37.5,
        17.0,
    ]


def ilsvrc2012():
    """Table 2 with its empty cells (numbers the paper does not give) as NaN, as lesson 01 reads it."""
    t = tables.read("ilsvrc2012")
    errors = ["top1_val", "top5_val", "top5_test"]
    t[errors] = t[errors].apply(pd.to_numeric, errors="coerce")
    return t


def test_the_15_3_is_the_seven_cnn_ensemble():
    t = ilsvrc2012()
    assert len(t) == 5
    row = t.loc[t.top5_test == 15.3]
    assert len(row) == 1
    assert int(row.cnns.iloc[0]) == 7 and int(row.pretrained.iloc[0]) == 2
    one = t.set_index("model").loc["1 CNN"]
    assert one.top5_val == 18.2 and pd.isna(one.top5_test)  # the paper gives no test number
    assert t.set_index("model").loc["SIFT + FVs (runner-up)", "top5_test"] == 26.2


def test_winners_fall_every_year_and_agree_with_the_papers_tables():
    w = tables.read("winners")
    assert w.year.tolist() == list(range(2010, 2018))  # 2010 to 2017, 2011 included
    assert w.top5_test.is_monotonic_decreasing
    by_year = w.set_index("year").top5_test
    assert by_year[2012] == ilsvrc2012().top5_test.min()
    assert by_year[2010] == tables.read("ilsvrc2010").top5_test.iloc[0]
    assert by_year[2011] == 25.8  # XRCE
    assert w.loc[w.in_paper, "year"].tolist() == [2010, 2012]
    assert w.loc[w.in_paper, "source"].str.startswith("paper").all()
    assert w.loc[~w.in_paper, "source"].str.contains("https://").all()


def test_hand_crafted_winners_come_before_the_cnns():
    w = tables.read("winners")
    assert (w.kind == "CNN").tolist() == (w.year >= 2012).tolist()


def test_ingredients_cite_a_section_of_the_paper():
    t = tables.read("ingredients")
    assert len(t) == 8 and t.ingredient.is_unique
    assert t.source.str.fullmatch(r"paper §\d(\.\d)?(, Figure \d)?").all()
    assert {"LRN", "Dropout", "ReLU", "Overlapping pooling", "Depth"} <= set(t.ingredient)


def test_myths_are_distinct_and_cover_the_ensemble():
    m = tables.read("myths")
    assert list(m.columns) == ["myth", "fact", "source"]
    assert m.myth.is_unique and len(m) == 11
    assert m.fact.str.contains("ensemble of 7").any()


def test_lenet_alexnet_states_no_unchecked_lenet_figure():
    t = tables.read("lenet_alexnet").set_index("quantity")
    assert t.loc["training images", ["LeNet-5", "AlexNet"]].astype(int).tolist() == [
        60_000,
        1_200_000,
    ]
    unchecked = ["passes over the training set", "hardware", "training time"]
    assert (t.loc[unchecked, "LeNet-5"] == "").all()
    assert t.loc[unchecked, "source"].str.contains("no figure checked").all()
    for figure in ("R10000", "Origin", "2 to 3 days", "401"):
        assert figure not in t.to_string()
