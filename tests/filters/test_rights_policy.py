"""rights_policy: one test per drop reason, unknown-licence modes, and which opt-out signals count."""

from __future__ import annotations

import pytest

from winnow.filters.rights import names
from winnow.filters.rights.policy import RightsPolicyStage
from winnow.pipeline import schema
from winnow.pipeline.stage import REASON_COLUMN


def _table(rows):
    return schema.documents_from_records(
        [{"id": str(i), "text": "t", "license": lic, names.OPTOUT_SIGNALS: sig} for i, (lic, sig) in enumerate(rows)]
    )


def _reasons(stage, rows):
    out = stage(_table(rows))
    dropped = dict(zip(out.dropped["id"].to_pylist(), out.dropped[REASON_COLUMN].to_pylist())) if out.dropped else {}
    return [dropped.get(str(i)) for i in range(len(rows))], out


@pytest.mark.parametrize("signal", ["robots", "tdmrep", "noai"])
def test_optout_signal_drops_with_its_own_reason(signal):
    reasons, _ = _reasons(RightsPolicyStage(), [("cc-by-4.0", signal), ("cc-by-4.0", None)])
    assert reasons == [f"rights_policy_optout_{signal}", None]


def test_first_signal_names_the_reason_and_ignored_signals_do_not_drop():
    assert _reasons(RightsPolicyStage(), [(None, "tdmrep,noai")])[0] == ["rights_policy_optout_tdmrep"]
    lenient = RightsPolicyStage(optout_signals=["tdmrep"])
    assert _reasons(lenient, [(None, "robots"), (None, "robots,tdmrep")])[0] == [None, "rights_policy_optout_tdmrep"]


def test_license_not_allowed():
    reasons, out = _reasons(
        RightsPolicyStage(),
        [("cc-by-nc-4.0", None), ("cc-by-sa-3.0", None), ("cc0-1.0", None), ("pdm", None), ("cc-by-nd-4.0", None)],
    )
    assert reasons == ["rights_policy_license_not_allowed", None, None, None, "rights_policy_license_not_allowed"]
    assert out.kept[names.RIGHTS_POLICY_STATUS].to_pylist() == ["allowed_license"] * 3
    custom = RightsPolicyStage(allowed_licenses=["cc-by-nc*"])
    assert _reasons(custom, [("cc-by-nc-4.0", None), ("cc-by-4.0", None)])[0] == [
        None,
        "rights_policy_license_not_allowed",
    ]


def test_unknown_license_keep_tag_drop():
    rows = [(None, None), ("cc-by-4.0", None)]
    assert _reasons(RightsPolicyStage(unknown="drop"), rows)[0] == ["rights_policy_license_unknown", None]
    _, kept = _reasons(RightsPolicyStage(unknown="tag"), rows)
    assert kept.kept[names.RIGHTS_POLICY_STATUS].to_pylist() == ["unknown_license", "allowed_license"]
    _, kept = _reasons(RightsPolicyStage(unknown="keep"), rows)
    assert kept.kept.num_rows == 2


def test_columns_missing_means_nothing_known():
    table = schema.documents_from_records([{"id": "a", "text": "t"}]).drop_columns([schema.LICENSE])
    assert RightsPolicyStage(unknown="drop")(table).dropped[REASON_COLUMN].to_pylist() == [
        "rights_policy_license_unknown"
    ]


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        RightsPolicyStage(unknown="maybe")
