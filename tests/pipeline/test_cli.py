"""The command line as a user meets it: help, clear errors without tracebacks, the demo, inspect."""

import json
import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def winnow(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=os.environ.copy(), timeout=timeout)


def test_help_lists_commands():
    r = winnow("--help")
    assert r.returncode == 0
    for cmd in ("run", "inspect"):
        assert cmd in r.stdout


def test_config_error_is_one_clear_message(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("inputs: [x.jsonl]\noutput: o\nstages:\n  - {name: test_min_chars, min_char: 3}\n")
    r = winnow("run", str(cfg))
    assert r.returncode == 2
    assert "unknown key 'min_char'" in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_missing_input_is_an_error_before_work(tmp_path):
    r = winnow("run", "--input", str(tmp_path / "none*.jsonl"), "--output", str(tmp_path / "o"))
    assert r.returncode == 2 and "matches no files" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "documents").exists()


def test_set_overrides_a_param(tmp_path, shared_data):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("params: {n: 1}\ninputs: [x]\noutput: o\nengine: {executor: local}\nstages:\n  - {name: test_min_chars, min_chars: '${n}'}\n")
    src = shared_data / "cc" / "cc_jsonl" / "dolma"
    r = winnow("run", str(cfg), "--input", f"{src}/*.jsonl.gz", "--output", str(tmp_path / "o"), "--set", "n=100000", "-q")
    assert r.returncode == 0, r.stderr
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["documents"] == 0 and stats["stages"][1]["dropped"] == {"test_min_chars_short": 20}


def test_bad_arguments_and_files_of_the_small_commands_are_one_line_errors(tmp_path, shared_data):
    """Each of these was a traceback (or a silent nonsense answer) before; now exit 2 with one message."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "stats.json").write_text("{not json")
    (tmp_path / "a_file").write_text("")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "cls.yaml").write_text(f"positive: {shared_data / 'domains/wiki.jsonl.gz'}\nnegative: 5\noutput: x\n")
    cases = {
        ("inspect", str(tmp_path / "run")): "is not a stats.json",
        ("recipes", "copy", "pdf", str(tmp_path / "a_file")): "is a file",
        ("train-classifier", "--config", str(tmp_path / "cls.yaml")): "negative in the config file",
        ("plan", "demo", "--cores", "0"): "--cores",
        ("plan", "demo", "--snapshot-nodes", "-2"): "--snapshot-nodes",
        ("inspect", str(tmp_path / "run"), "-n", "-1"): "-n",
        # a mistyped --input used to make every --input a text to train on (the paths' own letters), exit 0
        ("train-tokenizer", "--input", str(shared_data / "domains/wiki.jsonl.gz"), "--input",
         str(shared_data / "domains/wikk.jsonl.gz"), "--vocab-size", "300", "--output", str(tmp_path / "tok")):
            "wikk.jsonl.gz",
        ("train-tokenizer", "--input", str(tmp_path / "empty.jsonl"), "--vocab-size", "300", "--output",
         str(tmp_path / "tok")): "no text to train on",
        ("train-tokenizer", "--input", str(shared_data / "domains/wiki.jsonl.gz"), "--vocab-size", "300",
         "--output", str(tmp_path / "a_file")): "is a file",
        ("train-tokenizer", "--input", str(shared_data / "domains/wiki.jsonl.gz"), "--vocab-size", "300",
         "--output", str(tmp_path / "tok"), "--eos-token", ""): "EOS token cannot be empty",
    }
    for args, message in cases.items():
        r = winnow(*args)
        out = r.stdout + r.stderr
        assert r.returncode == 2 and message in out and "Traceback" not in out, (args, out[-500:])
