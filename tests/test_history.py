"""Lesson 01's tables: well formed, every row sourced, and the famous 15.3% is the ensemble."""

from alexnet_lesson import history


def test_every_table_has_a_source_on_every_row():
    for table in [history.ilsvrc2010(), history.ilsvrc2012(), history.winners(), history.myths()]:
        assert "source" in table.columns
        assert table.source.map(lambda s: isinstance(s, str) and len(s) > 5).all()
    assert history.ingredients()["paper"].str.startswith("§").all()


def test_table1_values_and_order():
    t = history.ilsvrc2010()
    assert (t.top5_test < t.top1_test).all()
    assert t.top5_test.is_monotonic_decreasing
    assert t.set_index("model").loc["CNN (AlexNet)", ["top1_test", "top5_test"]].tolist() == [
        37.5,
        17.0,
    ]


def test_the_15_3_is_the_seven_cnn_ensemble():
    t = history.ilsvrc2012()
    row = t.loc[t.top5_test == 15.3]
    assert len(row) == 1
    assert int(row.cnns.iloc[0]) == 7 and int(row.pretrained.iloc[0]) == 2
    one = t.set_index("model").loc["1 CNN"]
    assert one.top5_val == 18.2 and one.top5_test != one.top5_test  # NaN: no test number
    assert t.set_index("model").loc["SIFT + FVs (runner-up)", "top5_test"] == 26.2


def test_winners_fall_every_year_and_2012_matches_table2():
    w = history.winners()
    assert w.year.tolist() == list(range(2010, 2018))  # 2010 to 2017, 2011 included
    assert w.top5_test.is_monotonic_decreasing
    assert w.set_index("year").loc[2012, "top5_test"] == history.ilsvrc2012().top5_test.min()
    assert w.set_index("year").loc[2010, "top5_test"] == history.ilsvrc2010().top5_test.iloc[0]
    assert w.set_index("year").loc[2011, "top5_test"] == 25.8  # XRCE
    assert w.loc[w.in_paper, "year"].tolist() == [2010, 2012]
    assert w[~w.in_paper].source.str.contains("20").all()


def test_hand_crafted_winners_come_before_the_cnns():
    w = history.winners()
    assert (w.kind == "CNN").tolist() == (w.year >= 2012).tolist()


def test_ingredients_cite_a_section_of_the_paper():
    # which lesson shows each ingredient is lesson 01's table; its cell checks the files exist
    assert history.ingredients()["paper"].str.fullmatch(r"§\d(\.\d)?(, Figure \d)?").all()
    assert {"LRN", "Dropout", "ReLU"} <= set(history.ingredients().ingredient)


def test_myths_are_distinct_and_cover_the_ensemble():
    m = history.myths()
    assert m.myth.is_unique and len(m) >= 8
    assert m.fact.str.contains("ensemble of 7").any()


def test_plots_draw():
    assert len(history.plot_top5_bars().axes[0].patches) == 6
    ax = history.plot_winners().axes[0]
    assert list(ax.lines[0].get_ydata()) == history.winners().top5_test.tolist()
    assert [c.get_label() for c in ax.collections] == ["hand-crafted features", "CNN"]
