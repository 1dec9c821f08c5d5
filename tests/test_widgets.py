"""The lesson 02 widget callbacks: plain functions, checked without Jupyter."""

import pandas as pd
import pytest
import torch
from torch import nn

from alexnet_lesson.models import InputSizeError, alexnet
from alexnet_lesson.widgets import (
    conv_calculator,
    conv_calculator_widget,
    variant_shapes,
    variant_shapes_widget,
)


def test_calculator_exact_division():
    r = conv_calculator(227, 11, 4, 0)
    assert r["out"] == 55 and r["exact"] and r["warnings"] == []


def test_calculator_warns_when_the_stride_does_not_divide():
    r = conv_calculator(224, 11, 4, 0)
    assert r["out"] == 54 and not r["exact"]
    assert (
        len(r["warnings"]) == 1
        and "not exact" in r["warnings"][0]
        and "last 1 row" in r["warnings"][0]
    )


def test_calculator_warns_below_one():
    r = conv_calculator(5, 11, 4, 0)
    assert r["out"] < 1 and not r["exact"]
    assert "below 1" in r["warnings"][0]


@pytest.mark.parametrize("n,k,s,p", [(224, 11, 4, 1), (26, 3, 2, 0), (13, 3, 1, 1), (31, 5, 3, 2)])
def test_calculator_agrees_with_pytorch(n, k, s, p):
    assert (
        conv_calculator(n, k, s, p)["out"]
        == nn.Conv2d(1, 1, k, s, p)(torch.zeros(1, 1, n, n)).shape[-1]
    )


def test_calculator_rejects_nonsense():
    with pytest.raises(ValueError):
        conv_calculator(224, 11, 0, 0)


def test_variant_shapes_table():
    t = variant_shapes("d2l", 224)
    assert isinstance(t, pd.DataFrame)
    assert t.layer.iloc[-1] == "fc8" and t.output.iloc[-1] == "10"


def test_variant_shapes_names_the_breaking_layer_with_the_package_message():
    text = variant_shapes("d2l", 28)
    with pytest.raises(InputSizeError) as err:
        alexnet("d2l")(torch.zeros(1, 1, 28, 28))
    assert text == str(err.value)
    assert "at pool2" in text
    text = variant_shapes("caffe227", 224)
    assert isinstance(text, str) and "fc6 expects 9216 features" in text


def test_widgets_update_when_a_slider_moves():
    calc = conv_calculator_widget()
    n = calc.children[0]
    n.value = 227
    assert "output size: 55" in calc.children[-1].value and "⚠" not in calc.children[-1].value
    n.value = 224
    assert "not exact" in calc.children[-1].value
    explore = variant_shapes_widget()
    pick, size, out = explore.children
    size.value = 28
    assert "at pool2" in out.value
    pick.value = "paper"
    assert size.value == 227 and "fc8" in out.value
