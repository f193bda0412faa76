"""Decisions over a run's annotations: a small filter language over columns, top N % by a score, domain lists.

"Tag first, decide last": a variant is a run's documents seen through a decision over columns the run already
wrote, so nothing is recomputed. The filter language is a Python expression restricted to comparisons of
columns with constants (`==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`, `is None`, `is not None`), joined by
`and`, `or`, `not` and parentheses; it is parsed, never evaluated as Python, and runs vectorised over Arrow.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from winnow.pipeline.config import ConfigError

_COMPARE = {ast.Eq: pc.equal, ast.NotEq: pc.not_equal, ast.Lt: pc.less, ast.LtE: pc.less_equal,
            ast.Gt: pc.greater, ast.GtE: pc.greater_equal}


def parse(expr: str, where: str) -> ast.expr:
    """The expression's syntax tree, refusing anything outside the filter language."""
    try:
        tree = ast.parse(expr, mode="eval").body
    except SyntaxError as exc:
        raise ConfigError(f"{where}: {expr!r} is not a valid filter expression ({exc.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.Name,
                                 ast.Constant, ast.List, ast.Tuple, ast.Load, ast.In, ast.NotIn, ast.Is, ast.IsNot,
                                 *_COMPARE)):
            raise ConfigError(f"{where}: {expr!r}: {type(node).__name__} is not allowed; use comparisons of columns "
                              "with constants joined by and/or/not")
        negated = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
        if negated and not isinstance(node.operand, ast.Constant):
            raise ConfigError(f"{where}: {expr!r}: minus applies to numbers only")
    return tree


def columns(tree: ast.expr) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _constant(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return operator.neg(node.operand.value)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_constant(e) for e in node.elts]
    return None


def _operand(node: ast.expr, table: pa.Table) -> Any:
    if isinstance(node, ast.Name):
        return table[node.id]
    value = _constant(node)
    return pa.scalar(value) if not isinstance(value, list) else value


def _compare(op: ast.cmpop, left: ast.expr, right: ast.expr, table: pa.Table, where: str) -> Any:
    a = _operand(left, table)
    if isinstance(op, (ast.Is, ast.IsNot)):
        if _constant(right) is not None or not isinstance(right, ast.Constant):
            raise ConfigError(f"{where}: `is` compares with None only (`col is None`, `col is not None`)")
        return pc.is_null(a) if isinstance(op, ast.Is) else pc.is_valid(a)
    if isinstance(op, (ast.In, ast.NotIn)):
        values = _constant(right)
        if not isinstance(values, list):
            raise ConfigError(f"{where}: `in` needs a list of constants on its right, e.g. domain in ['wiki', 'web']")
        hit = pc.is_in(a, value_set=pa.array(values))
        # is_in says False for a null; a null must stay undecided (null) like every other comparison.
        hit = pc.if_else(pc.is_null(a), pa.scalar(None, pa.bool_()), hit)
        return hit if isinstance(op, ast.In) else pc.invert(hit)
    return _COMPARE[type(op)](a, _operand(right, table))


def _eval(node: ast.expr, table: pa.Table, where: str) -> Any:
    if isinstance(node, ast.BoolOp):
        fn = pc.and_kleene if isinstance(node.op, ast.And) else pc.or_kleene
        out = _eval(node.values[0], table, where)
        for v in node.values[1:]:
            out = fn(out, _eval(v, table, where))
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return pc.invert(_eval(node.operand, table, where))
    if isinstance(node, ast.Compare):
        parts, left = [], node.left
        for op, right in zip(node.ops, node.comparators):  # a chain: 0.5 <= s < 0.9
            parts.append(_compare(op, left, right, table, where))
            left = right
        out = parts[0]
        for p in parts[1:]:
            out = pc.and_kleene(out, p)
        return out
    if isinstance(node, ast.Name) and pa.types.is_boolean(table[node.id].type):
        return table[node.id]
    raise ConfigError(f"{where}: {ast.unparse(node)!r} is not a condition (compare a column with a value)")


def evaluate(tree: ast.expr, table: pa.Table, where: str) -> pa.ChunkedArray | pa.Array:
    """The expression's truth per row: True, False or null (a comparison with a missing value)."""
    try:
        return _eval(tree, table, where)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        types = ", ".join(f"{c} ({table[c].type})" for c in sorted(columns(tree)))
        raise ConfigError(f"{where}: cannot evaluate {ast.unparse(tree)!r} on columns {types}: "
                          f"{str(exc).splitlines()[0]}") from None


def top_percent_mask(scores: pa.ChunkedArray, percent: float) -> np.ndarray:
    """True for the highest-scoring `percent` % of the rows that have a score (ties at the cut are kept).

    Returns an object array: True, False, or None for a row without a score, which `unscored` then decides."""
    values = np.array([np.nan if v is None else float(v) for v in scores.to_pylist()], dtype=float)
    scored = ~np.isnan(values)
    out = np.full(len(values), None, dtype=object)
    if scored.any():
        keep = max(1, int(round(scored.sum() * percent / 100)))
        cut = np.sort(values[scored])[::-1][keep - 1]
        out[scored] = values[scored] >= cut
    return out
