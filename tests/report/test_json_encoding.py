"""The JSON report's encoder, made once, writes what ``json.dumps(..., ensure_ascii=False)`` writes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given

from convcalc.report import json_report
from tests.helpers import examples
from tests.strategies import json_values


@given(json_values)
@examples(300)
@example({"name": 'é\u2028"\\', "rf": [-0.5, 1e300, 3], "ok": True, "none": None, "nested": {"a": []}})
def test_the_encoder_made_once_writes_what_json_dumps_writes(value: Any) -> None:
    assert json_report._encode(value) == json.dumps(value, ensure_ascii=False)


def test_the_encoder_made_once_is_json_s_c_encoder_where_there_is_one() -> None:
    # Not the fallback on CPython, where the C encoder exists: the shortcut is what runs.
    if json.encoder.c_make_encoder is not None:
        assert json_report._encode != json_report._ENCODER.encode
