"""The JSON report's encoder, made once, writes what ``json.dumps(..., ensure_ascii=False)`` writes; a layer's
line, written straight from its facts, is its record so encoded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from convcalc.analysis import NetworkFacts, analyze
from convcalc.loading import load_spec
from convcalc.report import json_report
from convcalc.report.common import PerField
from convcalc.rules import REGISTRY
from tests.helpers import EXAMPLES, analyze_spec, examples
from tests.strategies import json_values, names, spec_dicts


@given(json_values)
@examples(300)
@example({"name": 'é\u2028"\\', "rf": [-0.5, 1e300, 3], "ok": True, "none": None, "nested": {"a": []}})
def test_the_encoder_made_once_writes_what_json_dumps_writes(value: Any) -> None:
    assert json_report._encode(value) == json.dumps(value, ensure_ascii=False)


def test_the_encoder_made_once_is_json_s_c_encoder_where_there_is_one() -> None:
    # Not the fallback on CPython, where the C encoder exists: the shortcut is what runs.
    if json.encoder.c_make_encoder is not None:
        assert json_report._encode != json_report._ENCODER.encode


def _lines_agree(facts: NetworkFacts) -> None:
    names = [layer.name for layer in facts.layers]
    quoted = [json_report._string(name) for name in names]
    fields = PerField(json_report._field_text)  # as the report writes them: each field's keys made once
    for layer in facts.layers:
        record = json_report._dumps(json_report.layer_record(layer, names))
        assert json_report.layer_text(layer, quoted, fields) == record
        assert json_report.layer_text(layer, quoted) == record


SPEC_FILES = sorted(EXAMPLES.rglob("*.json"))


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_a_layer_s_line_is_its_record_encoded_in_every_example(path: Path) -> None:
    # Every kind the examples hold: windows (same, explicit, ceil mode), merges' inputs, statistics, and
    # receptive fields that are fractions (upsampling) or negative starts.
    _lines_agree(analyze(load_spec(str(path)).network))


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_a_layer_s_line_is_its_record_encoded_in_every_rule_s_examples(code: str) -> None:
    for spec in (REGISTRY[code].bad, REGISTRY[code].good):
        _lines_agree(analyze_spec(spec))


@given(spec_dicts(), st.lists(st.booleans(), min_size=8, max_size=8), names)
@examples(200)
@example(  # a frozen conv whose name JSON leaves raw and json_safe escapes
    {"input": [5, 5, 1], "layers": [{"type": "conv", "filters": 1, "kernel": 3, "name": "a\u202e\x85"}]},
    [1] * 8,
    "x",
)
@example(  # receptive fields in sevenths: their jumps and starts are floats of many digits
    {
        "input": [6, 6, 1],
        "layers": [
            {"type": "upsample", "size": 3},
            {"type": "conv", "filters": 1, "kernel": 2},
            {"type": "upsample", "size": [7, 9], "interpolation": "bilinear"},
            {"type": "conv", "filters": 2, "kernel": 3, "padding": 1},
        ],
    },
    [0] * 8,
    "sevenths",
)
def test_a_layer_s_line_is_its_record_encoded(spec: dict[str, Any], frozen: list[bool], name: str) -> None:
    # Frozen layers (their params non-trainable) and any name, escapes and invisible characters included.
    for layer, freeze in zip(spec["layers"], frozen, strict=False):
        if freeze and layer["type"] in ("conv", "fc"):
            layer["trainable"] = False
    spec["name"] = name
    _lines_agree(analyze_spec(spec))
