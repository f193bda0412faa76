"""Variants: a run's documents, or the same documents seen through a decision over their columns; and the A/A halves.

Every refusal here happens before anything is tokenized or trained: an unknown column or domain in a decision,
a decision that keeps nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from winnow.mixing.ablate import decide
from winnow.mixing.ablate.config import AblateConfig, AblateInputError, VariantConfig
from winnow.mixing.ablate.sources import read_source
from winnow.pipeline import schema
from winnow.pipeline.config import ConfigError


@dataclass
class Docs:
    ids: list[str]
    texts: list[str]
    domains: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, keep: list[bool] | np.ndarray) -> Docs:
        idx = [i for i, k in enumerate(keep) if k]
        return Docs([self.ids[i] for i in idx], [self.texts[i] for i in idx], [self.domains[i] for i in idx])

    def chars(self) -> int:
        return sum(len(t) for t in self.texts)

    @classmethod
    def of(cls, table: pa.Table) -> Docs:
        return cls(table[schema.ID].to_pylist(), table[schema.TEXT].to_pylist(), table[schema.DOMAIN].to_pylist())


@dataclass
class Variant:
    name: str
    docs: Docs  # what it trains on (after its decision and after removing evaluation texts)
    source: str
    decision: str
    filtered: bool  # a filter or top-percent decision: its verdicts are scale-sensitive
    selected: int = 0  # documents the decision kept, before evaluation texts were removed
    source_docs: int = 0
    excluded: int = 0
    halves_of: str | None = None  # an A/A half: the variant it was cut from
    domains_used: dict[str, int] = field(default_factory=dict)


def source_key(documents: str | list[str]) -> tuple[str, ...]:
    return (documents,) if isinstance(documents, str) else tuple(documents)


def decision_columns(v: VariantConfig) -> set[str]:
    cols = decide.columns(decide.parse(v.where, f"variants.{v.name}.where")) if v.where else set()
    return cols | ({v.top_percent.column} if v.top_percent else set())


def load_sources(cfg: AblateConfig) -> dict[tuple[str, ...], tuple[pa.Table, set[str]]]:
    """Each distinct source read once, with every column any decision over it needs."""
    wanted: dict[tuple[str, ...], set[str]] = {}
    for v in cfg.variants:
        wanted.setdefault(source_key(v.documents), set()).update(decision_columns(v))
    return {key: read_source(list(key), cols) for key, cols in wanted.items()}


def _check_columns(v: VariantConfig, present: set[str]) -> None:
    for col in sorted(decision_columns(v)):
        if col not in present | {schema.ID, schema.TEXT, schema.DOMAIN}:
            key = "where" if v.where and col in decide.columns(decide.parse(v.where, "")) else "top_percent.column"
            raise AblateInputError(f"variant {v.name!r}: {key} names unknown column {col!r}; "
                                   f"columns in {v.documents}: {', '.join(sorted(present))}")


def _domain_mask(v: VariantConfig, table: pa.Table) -> pa.ChunkedArray | None:
    present = set(table[schema.DOMAIN].to_pylist())
    mask = None
    lists = (("include_domains", v.include_domains, True), ("exclude_domains", v.exclude_domains, False))
    for key, names, keep in lists:
        if names is None:
            continue
        unknown = sorted(set(names) - present)
        if unknown:
            raise AblateInputError(f"variant {v.name!r}: {key} names domain(s) {', '.join(unknown)} not in the "
                                   f"documents; present: {', '.join(sorted(present))}")
        m = pc.is_in(table[schema.DOMAIN], value_set=pa.array(names))
        m = m if keep else pc.invert(m)
        mask = m if mask is None else pc.and_(mask, m)
    return mask


def _decide(v: VariantConfig, table: pa.Table) -> tuple[np.ndarray, list[str]]:
    """The rows the variant keeps, and its decision in words."""
    keep = np.ones(table.num_rows, dtype=bool)
    words = []
    dmask = _domain_mask(v, table)
    if dmask is not None:
        keep &= np.asarray(dmask.to_numpy(zero_copy_only=False), dtype=bool)
        words += [f"domains in {v.include_domains}"] if v.include_domains else []
        words += [f"domains not in {v.exclude_domains}"] if v.exclude_domains else []
    fill = v.unscored == "keep"  # a row the decision cannot judge (no score): kept or dropped as configured
    if v.where:
        truth = decide.evaluate(decide.parse(v.where, f"variants.{v.name}.where"), table, f"variants.{v.name}.where")
        keep &= np.asarray(pc.fill_null(truth, fill).to_numpy(zero_copy_only=False), dtype=bool)
        words.append(f"where {v.where}")
    if v.top_percent:
        col = table[v.top_percent.column]
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_null(col.type)):
            raise AblateInputError(f"variant {v.name!r}: top_percent.column {v.top_percent.column!r} is {col.type}, "
                                   "not a numeric score")
        # Rank only the rows still kept: "top 30 %" of what the earlier decisions left.
        ranked = decide.top_percent_mask(col.filter(pa.array(keep)), v.top_percent.percent)
        top = np.full(table.num_rows, False, dtype=object)
        top[np.flatnonzero(keep)] = ranked
        keep &= np.array([fill if t is None else bool(t) for t in top], dtype=bool)
        words.append(f"top {v.top_percent.percent:g} % by {v.top_percent.column}")
    if v.unscored == "keep" and v.has_filter():
        words.append("rows without a score kept")
    return keep, words


def select(v: VariantConfig, table: pa.Table, present: set[str]) -> Variant:
    _check_columns(v, present)
    try:
        keep, words = _decide(v, table)
    except ConfigError as exc:
        raise AblateInputError(str(exc)) from None
    docs = Docs.of(table).subset(keep)
    if not len(docs):
        raise AblateInputError(f"variant {v.name!r}: the decision ({'; '.join(words)}) keeps no documents "
                               f"of the {table.num_rows} in {v.documents}")
    return Variant(name=v.name, docs=docs, source=", ".join(source_key(v.documents)),
                   decision="; ".join(words) or "all documents", filtered=v.has_filter(), selected=len(docs),
                   source_docs=table.num_rows)


def halves(v: Variant) -> tuple[Variant, Variant]:
    """Two disjoint halves of one variant, by a hash of the document id: the A/A control's two arms."""
    side = [hashlib.sha256(f"aa|{i}".encode()).digest()[0] & 1 for i in v.docs.ids]
    out = []
    for k in (0, 1):
        docs = v.docs.subset([s == k for s in side])
        if not len(docs):
            raise AblateInputError(f"control {v.name!r} has too few documents ({len(v.docs)}) to split in halves")
        out.append(Variant(name=f"{v.name}#{k + 1}", docs=docs, source=v.source, decision=f"half {k + 1} of {v.name}",
                           filtered=False, selected=len(docs), source_docs=len(v.docs), halves_of=v.name))
    return out[0], out[1]
