"""docs/CONTRIBUTING.md's filter is real: its code runs, its tests pass, and it fits the promised size."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "CONTRIBUTING.md"


@pytest.fixture(scope="module")
def guide_namespace() -> dict:
    from winnow.pipeline.registry import STAGES

    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) == 2, "the guide shows one stage and one test block"
    namespace: dict = {}
    if "shouting_filter" not in STAGES:
        exec(compile(blocks[0], str(GUIDE), "exec"), namespace)
    else:  # registered by an earlier import in this process: reuse it
        namespace["ShoutingFilter"] = STAGES["shouting_filter"]
    exec(compile(blocks[1], str(GUIDE), "exec"), namespace)
    namespace["_sizes"] = [len([line for line in b.splitlines() if line.strip()]) for b in blocks]
    return namespace


def test_the_guide_filter_and_its_tests_fit_in_forty_lines(guide_namespace):
    assert sum(guide_namespace["_sizes"]) < 40


@pytest.mark.parametrize("name", ["test_keeps_ordinary_prose", "test_drops_shouting", "test_drops_too_short"])
def test_the_guide_tests_pass(guide_namespace, name):
    guide_namespace[name]()


def test_every_reason_of_the_guide_filter_is_tested(guide_namespace):
    tests = "".join(re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)[1:])
    for reason in guide_namespace["ShoutingFilter"].reasons:
        assert reason in tests
