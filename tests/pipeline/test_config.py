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
    with pytest.raises(ConfigError, match="engine: executor: Input should be 'auto', 'ray' or 'local'"):
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


def test_set_refuses_a_param_the_config_does_not_declare():
    from winnow.pipeline import recipes

    with pytest.raises(ConfigError, match="no param 'extractr'; its params: extractor"):
        load_config(recipes.resolve("extract"), overrides=parse_set(["extractr=trafilatura"]))


def test_set_reaches_any_key_by_its_dotted_path():
    from winnow.pipeline import recipes

    cfg = load_config(recipes.resolve("extract"),
                      overrides=parse_set(["stages.extract.timeout_s=2.5", "engine.batch_size=10", "extractor=resiliparse"]))
    extract = cfg.stages[0].params
    assert extract.timeout_s == 2.5 and extract.extractor == "resiliparse" and cfg.engine.batch_size == 10
    with pytest.raises(ConfigError, match="no stage named 'nosuch'"):
        load_config(recipes.resolve("extract"), overrides=parse_set(["stages.nosuch.x=1"]))


def test_export_refuses_a_misspelt_param():
    from winnow.pipeline import recipes
    from winnow.pipeline.export import load_export_config

    with pytest.raises(ConfigError, match="no param 'documnts'"):
        load_export_config(recipes.resolve("export"), overrides=parse_set(["documnts=out/commoncrawl"]))


def test_a_column_no_input_or_earlier_stage_provides_is_refused(tmp_path, shared_data):
    data = shared_data / "domains" / "wiki.jsonl.gz"
    text = f"inputs: [{data}]\noutput: {tmp_path}\nstages:\n  - {{name: quality_filter, column: score_quality, threshold: 0.5}}\n"
    with pytest.raises(ConfigError, match="reads column 'score_quality'"):
        load_config(text=text)
    # Provided by an earlier stage: accepted.
    scored = text.replace("stages:\n", "stages:\n  - {name: quality_score, model: '${demo_quality_model}'}\n").replace(
        "score_quality", "score_fasttext_quality_v1")
    assert [s.name for s in load_config(text=scored).stages] == ["quality_score", "quality_filter"]


def test_a_missing_plugin_module_is_one_clear_error(monkeypatch):
    from winnow.pipeline import registry

    monkeypatch.setenv("WINNOW_PLUGINS", "winnow_no_such_plugin_module")
    monkeypatch.setattr(registry, "_env_loaded", set())
    with pytest.raises(ConfigError, match="WINNOW_PLUGINS names 'winnow_no_such_plugin_module'"):
        load("  - {name: not_a_registered_stage}")
