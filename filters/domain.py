"""Tag each document with its mixing domain, from URL host patterns and sources (first matching rule wins)."""

from __future__ import annotations

import fnmatch
from urllib.parse import urlsplit

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from winnow.pipeline import schema
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import DocumentAnnotator, StageParams


class DomainRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str
    host: str | None = None  # glob on the URL's host, e.g. "*.wikipedia.org"
    source: str | None = None  # exact source tag, e.g. "pdf"


class DomainTagParams(StageParams):
    rules: list[DomainRule] = []
    default: str | None = "web"  # for documents no rule matches and that carry no domain yet
    overwrite: bool = False  # replace a domain the document already has


@register_stage("domain_tag")
class DomainTagStage(DocumentAnnotator):
    """Annotate-only: sets the `domain` column. Never drops."""

    Params = DomainTagParams
    reads = (schema.URL, schema.SOURCE, schema.DOMAIN)
    adds_columns = {schema.DOMAIN: pa.string()}

    def _domain_for(self, url: str | None, source: str | None) -> str | None:
        host = (urlsplit(url).hostname or "") if url else ""
        for rule in self.params.rules:
            if rule.host is not None and not (host and fnmatch.fnmatch(host, rule.host)):
                continue
            if rule.source is not None and rule.source != source:
                continue
            return rule.domain
        return None

    def annotate(self, row: dict) -> dict:
        dom = row[schema.DOMAIN]
        if dom and not self.params.overwrite:
            return {schema.DOMAIN: dom}
        return {schema.DOMAIN: self._domain_for(row[schema.URL], row[schema.SOURCE]) or dom or self.params.default}
