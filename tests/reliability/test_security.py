"""Configs load safely; nothing in a config or an input makes Winnow write outside its output directory."""

import json
import os

import pytest

from winnow.pipeline.config import ConfigError, load_config
from winnow.pipeline.runner import run_pipeline


def _all_files(root):
    return {os.path.join(d, f) for d, _, files in os.walk(root) for f in files}


def test_yaml_tags_never_execute(tmp_path):
    marker = tmp_path / "pwned"
    for payload in (f"!!python/object/apply:os.system ['touch {marker}']", "!!python/name:os.system", f"!!python/object/new:os.system ['touch {marker}']"):
        with pytest.raises(ConfigError):
            load_config(text=f"inputs: [a]\noutput: o\nparams: {{x: {payload}}}\n")
    assert not marker.exists()


def test_hostile_ids_and_paths_stay_inside_output(tmp_path):
    nested = tmp_path / "in" / "sub"
    nested.mkdir(parents=True)
    records = [
        {"id": "../../../../evil", "text": "x" * 300, "url": "file:///etc/passwd", "domain": "../../escape"},
        {"id": "/etc/passwd", "text": "y" * 300, "domain": "/abs/path", "source": "../up"},
    ]
    (nested / "docs.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    out = tmp_path / "out"
    before = _all_files(tmp_path)
    # The input is named through '..' segments; outputs are named by unit number, never by input names or ids.
    cfg = load_config(text=f"inputs: ['{nested}/../sub/docs.jsonl']\noutput: {out}\nengine: {{executor: local}}\n"
                           "stages: [{name: test_exact_dedup}]\n")
    assert run_pipeline(cfg).balanced
    created = _all_files(tmp_path) - before
    assert created and all(p.startswith(str(out) + os.sep) for p in created), created


def test_credentials_are_redacted_from_locators_and_errors():
    from winnow.pipeline.storage import redact

    assert redact("https://alice:s3cr3t@host.example/x.warc.gz") == "https://REDACTED@host.example/x.warc.gz"
    signed = redact("https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA123&X-Amz-Signature=abcdef&x=1")
    assert "AKIA123" not in signed and "abcdef" not in signed and "x=1" in signed
    cfg = load_config(text="inputs: ['https://bob:hunter2@127.0.0.1:9/a.jsonl']\noutput: /tmp/o\n")
    assert "hunter2" not in json.dumps(cfg.public_dict())
