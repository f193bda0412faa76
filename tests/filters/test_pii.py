"""PII masking: emails, IPs and phone numbers become placeholders, look-alikes stay, counts reach the funnel."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pytest

from winnow.filters.pii import PiiMaskStage
from winnow.pipeline import schema
from winnow.pipeline.config import load_config
from winnow.pipeline.runner import run_pipeline
from winnow.pipeline.stage import ERROR_COLUMN


@pytest.mark.parametrize(
    "text, masked, kind",
    [
        ("Write to john.doe+news@example.co.uk today.", "Write to <EMAIL> today.", "pii_email"),
        ("Mail ADMIN@mail.example.org.", "Mail <EMAIL>.", "pii_email"),
        ("Server 192.168.1.20 is down.", "Server <IP> is down.", "pii_ip"),
        ("Reach 10.0.0.1.", "Reach <IP>.", "pii_ip"),
        ("Host 2001:db8::8a2e:370:7334 answered", "Host <IP> answered", "pii_ip"),
        ("Link-local fe80::1ff:fe23:4567:890a here", "Link-local <IP> here", "pii_ip"),
        ("Call (555) 234-5678 now", "Call <PHONE> now", "pii_phone"),
        ("Call 555-234-5678 now", "Call <PHONE> now", "pii_phone"),
        ("Call +1 555.234.5678 now", "Call <PHONE> now", "pii_phone"),
        ("London: +44 20 7946 0958.", "London: <PHONE>.", "pii_phone"),
        ("Paris: +33 1 23 45 67 89", "Paris: <PHONE>", "pii_phone"),
    ],
)
def test_each_kind_is_masked_and_counted(text, masked, kind):
    out, counts = PiiMaskStage().mask(text)
    assert out == masked
    assert counts[kind] == 1 and sum(counts.values()) == 1


@pytest.mark.parametrize(
    "text",
    [
        "Released version 1.2.3.4 and build 10.0.19041.1; also v2.4.6.8",
        "Python 3.11.2 came out; ratio 3.14159; 1.2.3.4.5 is not an address; 256.1.1.1 neither",
        "On 2023-01-15 (15.01.2023, 01/15/2023) at 12:30:45 the years 1990-2000",
        "ISBN 978-3-16-148410-0, ISBN 0-306-40615-2, ISBN-13: 978-0-306-40615-7, issn: 2049-3630",
        "1,234,567 people; card 4111 1111 1111 1111; ID 123-45-6789",
        "C++ std::vector and a::b; loopback ::1; MAC 00:1A:2B:3C:4D:5E",
        "user@localhost is not routable; npm package@1.2.3; +1 2",
        "doi:10.1000/182 and arXiv:2106.09685",
    ],
)
def test_look_alikes_are_left_alone(text):
    out, counts = PiiMaskStage().mask(text)
    assert out == text, counts
    assert sum(counts.values()) == 0


def test_kinds_can_be_switched_off():
    out, counts = PiiMaskStage(phone=False, ip=False).mask("a@b.example 555-234-5678 192.168.0.1")
    assert out == "<EMAIL> 555-234-5678 192.168.0.1" and counts["pii_email"] == 1


def test_process_rewrites_text_and_reports_counters():
    batch = schema.documents_from_records([
        {"id": "a", "text": "mail me: x@example.com or y@example.com, call 555-234-5678"},
        {"id": "b", "text": "nothing personal here, version 1.2.3.4"},
        {"id": "c", "text": None},
        {"id": "d", "text": "host 8.8.8.8"},
    ])
    outcome = PiiMaskStage()(batch)
    assert outcome.kept.num_rows == 4 and outcome.dropped is None and outcome.failed is None
    assert outcome.kept["text"].to_pylist() == [
        "mail me: <EMAIL> or <EMAIL>, call <PHONE>", "nothing personal here, version 1.2.3.4", None, "host <IP>"
    ]
    assert outcome.counters == {"pii_email": 2, "pii_ip": 1, "pii_phone": 1, "pii_mask_documents": 2}


def test_invalid_utf8_fails_only_that_document():
    texts = pa.array([b"mail x@example.com", b"bad \xff bytes"], pa.binary()).view(pa.string())
    batch = pa.table({"id": ["ok", "bad"], "text": texts, "metadata": [None, None]})
    outcome = PiiMaskStage()(batch)
    assert outcome.kept["text"].to_pylist() == ["mail <EMAIL>"]
    assert outcome.failed[ERROR_COLUMN].to_pylist() == ["pii_mask_invalid_utf8"]
    assert "bad" in outcome.failed["_winnow_detail"][0].as_py()
    assert schema.row_bytes(outcome.failed) == [len(b"bad \xff bytes")]  # counted at its real size


def test_counts_reach_the_funnel(tmp_path):
    src = tmp_path / "in.jsonl.gz"
    with gzip.open(src, "wt", encoding="utf-8") as f:
        for i in range(5):
            text = f"doc {i}: write to user{i}@example.org from 10.1.2.{i}"
            f.write(json.dumps({"id": str(i), "text": text}) + "\n")
        f.write(json.dumps({"id": "p", "text": "call (555) 234-5678"}) + "\n")
    cfg = load_config(text=f"""
inputs: ["{src}"]
output: {tmp_path / "out"}
engine: {{executor: local}}
stages:
  - name: pii_mask
""")
    stats = run_pipeline(cfg).stats
    assert stats["balanced"], stats["problems"]
    pii = next(s for s in stats["stages"] if s["name"] == "pii_mask")
    assert pii["counters"] == {"pii_email": 5, "pii_ip": 5, "pii_phone": 1, "pii_mask_documents": 6}
    assert pii["kept"] == 6
