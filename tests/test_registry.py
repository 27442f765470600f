import sys
from importlib import metadata

import pytest

from hfcbench.errors import DuplicateComponentError, HfcbenchError, UnknownComponentError
from hfcbench.registry import Registry


class Alpha:
    """Alpha component."""


class Beta:
    """Beta component."""


def make():
    reg = Registry("widgets", {"lazyone": "json:JSONDecoder"})
    reg.add("alpha", Alpha)
    reg.add("beta", Beta)
    reg.add("maha_a", Alpha)
    reg.add("maha_b", Beta)
    return reg


def test_decorator_registers_and_returns_the_object():
    reg = Registry("widgets")

    @reg.register("Gamma")
    class Gamma:
        pass

    assert reg.get("gamma") is Gamma and reg.get("GAMMA") is Gamma


def test_lazy_entry_is_imported_only_on_get(monkeypatch):
    reg = Registry("widgets", {"csvreader": "csv:DictReader"})
    monkeypatch.delitem(sys.modules, "csv", raising=False)
    assert reg.names() == ["csvreader"]
    assert "csv" not in sys.modules
    import csv

    assert reg.get("csvreader") is csv.DictReader


def test_selection_all_comma_and_glob_in_given_order():
    reg = make()
    assert reg.select("all") == ["alpha", "beta", "lazyone", "maha_a", "maha_b"]
    assert reg.select("beta, alpha,beta") == ["beta", "alpha"]
    assert reg.select("maha*") == ["maha_a", "maha_b"]
    assert reg.select(["maha_b", "a*"]) == ["maha_b", "alpha"]


def test_unknown_name_suggests_and_lists():
    with pytest.raises(UnknownComponentError) as info:
        make().get("alpah")
    message = str(info.value)
    assert "Did you mean 'alpha'" in message and "Available widgets: alpha, beta, lazyone, maha_a, maha_b" in message


def test_glob_matching_nothing_is_an_error():
    with pytest.raises(UnknownComponentError, match="matches no widgets"):
        make().select("zz*")
    with pytest.raises(HfcbenchError, match="names no widgets"):
        make().select(" , ")


def test_two_components_under_one_name_is_an_error():
    reg = make()
    reg.add("alpha", Alpha)  # the same object again is harmless
    with pytest.raises(DuplicateComponentError, match="'alpha'"):
        reg.add("alpha", Beta)


def test_entry_points_are_read(monkeypatch):
    points = [metadata.EntryPoint("thirdparty", "json:JSONEncoder", "hfcbench.widgets")]
    monkeypatch.setattr(metadata, "entry_points", lambda group: points if group == "hfcbench.widgets" else [])
    reg = make()
    import json

    assert "thirdparty" in reg.names() and reg.get("thirdparty") is json.JSONEncoder


def test_entry_point_clash_with_builtin(monkeypatch):
    points = [metadata.EntryPoint("alpha", "json:JSONEncoder", "hfcbench.widgets")]
    monkeypatch.setattr(metadata, "entry_points", lambda group: points)
    with pytest.raises(DuplicateComponentError):
        make().names()


def test_plugin_spec_errors_are_clear():
    reg = Registry("widgets")
    with pytest.raises(HfcbenchError, match="module:Attribute"):
        reg.add_plugin("nocolon")
    with pytest.raises(HfcbenchError, match="cannot import module"):
        reg.add_plugin("no_such_module_xyz:Thing")
    with pytest.raises(HfcbenchError, match="has no attribute"):
        reg.add_plugin("json:NoSuchThing")
    assert reg.add_plugin("json:JSONDecoder") == "jsondecoder"


def test_describe_uses_first_docstring_line():
    assert make().describe("alpha") == "Alpha component."
