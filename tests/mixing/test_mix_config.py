"""The mixing config refuses unknown keys and impossible targets with messages that name them."""

from __future__ import annotations

import pytest

from winnow.mixing.config import load_mix_config
from winnow.pipeline.config import ConfigError


def test_minimal_config_gets_defaults():
    cfg = load_mix_config(text="documents: out/demo\ntargets: [{domain: wiki}]\n")
    assert cfg.output == "out/mix" and cfg.swarm.num_mixtures is None and cfg.resolved_cache_dir() == "out/mix/cache"


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="unknown key 'swarm.num_proxies'.*num_mixtures"):
        load_mix_config(text="documents: x\ntargets: [{domain: wiki}]\nswarm: {num_proxies: 3}\n")
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        load_mix_config(text="documents: x\ntargets: [{domain: wiki}]\ncolour: red\n")


def test_target_needs_exactly_one_source():
    with pytest.raises(ConfigError, match="exactly one of domain"):
        load_mix_config(text="documents: x\ntargets: [{domain: wiki, path: a.jsonl}]\n")


def test_overrides_and_output():
    cfg = load_mix_config(text="documents: x\ntargets: [{domain: wiki}]\n", output="elsewhere",
                          overrides={"swarm.num_mixtures": 7})
    assert cfg.output == "elsewhere" and cfg.swarm.num_mixtures == 7


def test_shipped_config_loads():
    from pathlib import Path

    cfg = load_mix_config(str(Path(__file__).resolve().parents[2] / "configs" / "mixing.yaml"))
    assert cfg.documents == "out/demo" and cfg.output == "out/mix"


def test_cli_reports_config_mistakes(tmp_path):
    from typer.testing import CliRunner

    from winnow.pipeline.cli import app

    bad = tmp_path / "mix.yaml"
    bad.write_text("documents: x\ntargets: [{domain: wiki}]\noptimizer: {samples: 10}\n")
    result = CliRunner().invoke(app, ["mix", str(bad)])
    assert result.exit_code == 2
    assert "unknown key 'optimizer'" in result.output
