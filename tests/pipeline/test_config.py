"""Config validation: every mistake gives one message naming the key and what is allowed."""

import pytest

from winnow.pipeline.config import ConfigError, load_config, parse_set

BASE = """
inputs: [{inp}]
output: /tmp/x
stages:
{stages}
"""


def load(stages: str, inp: str = "a.jsonl", **kw):
    return load_config(text=BASE.format(inp=inp, stages=stages), **kw)


def test_valid_config_loads_and_fingerprint_ignores_output():
    a = load("  - {name: test_min_chars, min_chars: 5}")
    b = load("  - {name: test_min_chars, min_chars: 5}", output="/elsewhere")
    assert a.stages[0].params.min_chars == 5
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != load("  - {name: test_min_chars, min_chars: 6}").fingerprint()


def test_unknown_stage_lists_registered_ones():
    with pytest.raises(ConfigError, match=r"stages\[0\]: unknown stage 'nope'; registered stages: .*test_min_chars"):
        load("  - {name: nope}")


def test_unknown_key_lists_allowed_keys():
    with pytest.raises(ConfigError, match=r"stages\[0\] \(test_min_chars\): unknown key 'min_char'; allowed keys: min_chars, sleep_s, only_domains, skip_domains"):
        load("  - {name: test_min_chars, min_char: 5}")


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError, match=r"min_chars: .*integer.*\(got 'lots'\)"):
        load("  - {name: test_min_chars, min_chars: lots}")


def test_unknown_top_level_key():
    with pytest.raises(ConfigError, match="unknown top-level key 'stagez'"):
        load_config(text="inputs: [a]\noutput: o\nstagez: []\n")


def test_engine_value_is_checked():
    with pytest.raises(ConfigError, match="engine: executor: Input should be 'ray' or 'local'"):
        load_config(text="inputs: [a]\noutput: o\nengine: {executor: spark}\n")


def test_params_substitute_and_set_overrides_keep_types():
    text = "params: {n: 10, out: /tmp/p}\ninputs: [a]\noutput: ${out}/run\nstages:\n  - {name: test_min_chars, min_chars: '${n}'}\n"
    cfg = load_config(text=text, overrides=parse_set(["n=42"]))
    assert cfg.stages[0].params.min_chars == 42
    assert cfg.output == "/tmp/p/run"


def test_unknown_param_is_named():
    with pytest.raises(ConfigError, match=r"unknown param \$\{model\}"):
        load_config(text="inputs: [a]\noutput: o\nstages:\n  - {name: test_boom, word: '${model}'}\n")


def test_set_needs_name_value():
    with pytest.raises(ConfigError, match="expected NAME=VALUE"):
        parse_set(["oops"])


def test_input_and_output_overrides():
    cfg = load("  []", inputs=["x.parquet", "y.jsonl"], output="/tmp/o2")
    assert [i.path for i in cfg.inputs] == ["x.parquet", "y.jsonl"] and cfg.output == "/tmp/o2"


def test_yaml_cannot_construct_objects():
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(text="inputs: !!python/object/apply:os.system ['echo pwned']\noutput: o\n")


def test_duplicate_stage_names_refused():
    with pytest.raises(ConfigError, match="appears twice"):
        load("  - {name: test_boom}\n  - {name: test_boom}")
