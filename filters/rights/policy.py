"""Stage `rights_policy`: drops opted-out documents and disallowed licences, each under its own reason."""

from __future__ import annotations

import fnmatch
from typing import Literal

import pyarrow as pa
from pydantic import Field

from winnow.filters.rights import names
from winnow.pipeline import schema
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import Outcome, Stage, StageParams, set_column

# Licences whose terms allow training and redistribution of derived text: public domain, CC0, BY and BY-SA.
DEFAULT_ALLOWED = ["pdm", "cc-pddc", "cc0*", "cc-by", "cc-by-[0-9]*", "cc-by-sa", "cc-by-sa-*"]


class RightsPolicyParams(StageParams):
    allowed_licenses: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED)
    )  # glob patterns over licence ids
    # Documents with no licence found: keep them, keep them tagged `unknown_license`, or drop them.
    # keep and tag both keep the row (rights_policy_status says which); drop uses rights_policy_license_unknown.
    unknown: Literal["keep", "tag", "drop"] = "keep"
    drop_disallowed: bool = True  # drop documents whose licence is not in allowed_licenses
    drop_optout: bool = True  # drop documents with any opt-out signal (reason names the first signal)
    # Opt-out signals that count (robots, tdmrep, noai); e.g. [tdmrep, noai] to ignore robots.txt.
    optout_signals: list[Literal["robots", "tdmrep", "noai"]] = Field(default_factory=lambda: list(names.SIGNALS))


@register_stage(names.RIGHTS_POLICY)
class RightsPolicyStage(Stage):
    """Decides on what license_detect and optout tagged; kept rows get `rights_policy_status`."""

    Params = RightsPolicyParams
    adds_columns = {names.RIGHTS_POLICY_STATUS: pa.string()}
    reasons = (*names.POLICY_OPTOUT.values(), names.POLICY_LICENSE_NOT_ALLOWED, names.POLICY_LICENSE_UNKNOWN)
    reads = (schema.LICENSE, names.OPTOUT_SIGNALS)

    def allowed(self, license_id: str) -> bool:
        return any(fnmatch.fnmatchcase(license_id.lower(), p) for p in self.params.allowed_licenses)

    def decide(self, license_id: str | None, signals: str | None) -> tuple[str | None, str]:
        """(drop reason or None, status) for one document."""
        fired = [s for s in (signals or "").split(",") if s in self.params.optout_signals]
        if fired and self.params.drop_optout:
            return names.POLICY_OPTOUT[fired[0]], f"optout_{fired[0]}"
        if license_id is None:
            if self.params.unknown == "drop":
                return names.POLICY_LICENSE_UNKNOWN, "unknown_license"
            return None, "unknown_license" if self.params.unknown == "tag" else "no_license_found"
        if self.allowed(license_id):
            return None, "allowed_license"
        if self.params.drop_disallowed:
            return names.POLICY_LICENSE_NOT_ALLOWED, "license_not_allowed"
        return None, "license_not_allowed"

    def process(self, batch: pa.Table) -> Outcome:
        n = batch.num_rows
        cols = batch.column_names
        licenses = batch[schema.LICENSE].to_pylist() if schema.LICENSE in cols else [None] * n
        signals = batch[names.OPTOUT_SIGNALS].to_pylist() if names.OPTOUT_SIGNALS in cols else [None] * n
        reasons, statuses = [], []
        for lid, sig in zip(licenses, signals):
            reason, status = self.decide(lid, sig)
            reasons.append(reason)
            statuses.append(status)
        out = set_column(batch, names.RIGHTS_POLICY_STATUS, pa.array(statuses, pa.string()))
        return Outcome.from_decisions(out, reasons)
