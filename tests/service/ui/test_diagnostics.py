"""Scorer diagnostics as the model page shows them: labels, units, a sentence each, nothing hidden."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.ui.diagnostics import KNOWN, describe, diagnostic_tables, format_value


def test_a_matrix_rank_is_labelled_as_such_not_as_the_models_rank() -> None:
    (table,) = diagnostic_tables({"hscore": {"rank": 154}})
    (row,) = table.rows
    assert table.scorer == "hscore" and row.key == "rank"
    assert row.label == "Covariance directions kept" and row.value == "154 directions"
    assert "not the model's position" in row.sentence
    (probe,) = diagnostic_tables({"probe_cv": {"rank": 12}})[0].rows
    assert probe.label == "Feature rank" and "not the model's position" in probe.sentence


def test_units_fractions_and_flags() -> None:
    rows = {r.key: r for r in diagnostic_tables({"logme": {"converged": 0.25}})[0].rows}
    assert rows["converged"].value == "25 %"
    nleep = {
        r.key: r.value
        for r in diagnostic_tables({"nleep": {"converged": True, "estimated_mib": 3.5}})[0].rows
    }
    assert nleep == {
        "converged": "yes",
        "estimated_mib": "3.5 MiB",
    }  # nleep's converged is a flag, not a share
    assert format_value(None, "s") == "—" and format_value(1234567, "") == "1\u202f234\u202f567"
    assert format_value(list(range(20)), "").endswith("… (8 more)")


def test_peds_base_scorer_diagnostics_are_rows_named_after_the_base() -> None:
    info = {"ped": {"accepted_steps": 3, "base": "logme", "base_info": {"converged": 1.0}}}
    rows = {r.key: r for r in diagnostic_tables(info)[0].rows}
    assert rows["base_info.converged"].label == "Base scorer logme: Converged label columns"
    assert rows["base_info.converged"].value == "100 %" and rows["accepted_steps"].value == "3 steps"


def test_every_known_meaning_has_a_label_and_a_sentence() -> None:
    for scorer, meanings in KNOWN.items():
        for key, meaning in meanings.items():
            assert meaning.label and meaning.sentence.endswith("."), (scorer, key)
            assert describe(scorer if scorer != "*" else "any", key) is meaning or scorer == "*"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.dictionaries(st.text(min_size=1, max_size=16), json_values, max_size=6),
        max_size=5,
    )
)
def test_every_diagnostic_is_shown_whatever_a_scorer_returns(info: dict[str, dict[str, Any]]) -> None:
    tables = diagnostic_tables(info)
    assert [t.scorer for t in tables] == [s for s, values in info.items() if values]
    for table in tables:
        values = info[table.scorer]
        top_keys = {r.key.split(".", 1)[0] if r.key.startswith("base_info.") else r.key for r in table.rows}
        expected = {
            k for k in values if not (k == "base_info" and isinstance(values[k], dict) and not values[k])
        }
        assert top_keys == expected
        assert all(r.label and r.value for r in table.rows)
