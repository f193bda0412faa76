"""Licence detection: CC URLs and names, evidence precedence, Wikipedia, PDFs, broken HTML; labelled real pages."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import random
from pathlib import Path

import pytest

from winnow.filters.rights.cc import license_from_name, license_from_url
from winnow.filters.rights.license_detect import LicenseDetectStage
from winnow.pipeline import schema


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://creativecommons.org/licenses/by-sa/4.0/deed.en", ("cc-by-sa-4.0", None)),
        ("//creativecommons.org/licenses/by-nc-sa/3.0/de/", ("cc-by-nc-sa-3.0", "de")),
        ("http://creativecommons.org/licenses/by-nd-nc/1.0/", ("cc-by-nc-nd-1.0", None)),
        ("https://creativecommons.org/publicdomain/zero/1.0/", ("cc0-1.0", None)),
        ("https://creativecommons.org/publicdomain/mark/1.0/", ("pdm", None)),
        ("https://creativecommons.org/licenses/by/4.0", ("cc-by-4.0", None)),
        ("https://creativecommons.org/licenses/by-sa/", ("cc-by-sa", None)),
        ("https://creativecommons.org/about/", None),
        ("https://example.org/licenses/by/4.0", None),
    ],
)
def test_license_from_url(url, expected):
    assert license_from_url(url) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Creative Commons Attribution-ShareAlike License 4.0", "cc-by-sa-4.0"),
        ("Text_of_Creative_Commons_Attribution-ShareAlike_3.0_Unported_License", "cc-by-sa-3.0"),
        ("Creative Commons Namensnennung - Nicht kommerziell 4.0", "cc-by-nc-4.0"),
        ("Licensed CC BY-NC-ND 2.0", "cc-by-nc-nd-2.0"),
        ("released under CC0", "cc0"),
        ("All rights reserved", None),
    ],
)
def test_license_from_name(text, expected):
    assert license_from_name(text) == expected


def _detect(html: str | bytes, **kw):
    raw = html.encode() if isinstance(html, str) else html
    lid, evidence = LicenseDetectStage(**kw).detect(raw, "text/html", None, None)
    return lid, evidence


def test_rel_license_beats_plain_links_and_meta():
    lid, ev = _detect(
        '<html><head><meta name="dc.rights" content="https://creativecommons.org/licenses/by/4.0/"></head>'
        '<body><a href="https://creativecommons.org/licenses/by-nc/2.0/">a photo</a>'
        '<a rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/">CC BY-SA</a></body></html>'
    )
    assert lid == "cc-by-sa-4.0" and ev["method"] == "rel_license"
    assert {f["method"] for f in ev["found"]} == {"rel_license", "meta", "cc_link"}


def test_json_ld_and_meta():
    lid, ev = _detect(
        '<script type="application/ld+json">{"@graph":[{"@type":"Article",'
        '"license":"https://creativecommons.org/publicdomain/zero/1.0/"}]}</script>'
        '<script type="application/ld+json">{broken</script>'
    )
    assert (lid, ev["method"], ev["json_ld_unparsed"]) == ("cc0-1.0", "json_ld", 1)
    lid, ev = _detect('<meta name="DC.Rights" content="Creative Commons Attribution 3.0">')
    assert (lid, ev["method"]) == ("cc-by-3.0", "meta")


def test_plain_links_can_be_ignored_and_several_licences_take_the_strictest():
    html = (
        '<a href="https://creativecommons.org/licenses/by/4.0/">x</a>'
        '<a href="https://creativecommons.org/licenses/by-nc-nd/4.0/">y</a>'
    )
    assert _detect(html)[0] == "cc-by-nc-nd-4.0"
    assert _detect(html)[1]["chosen"] == "most_restrictive"
    assert _detect(html, plain_links=False)[0] is None


def test_broken_markup_and_non_html_never_crash():
    assert (
        _detect(b"<html><a rel=license href='http://creativecommons.org/licenses/by/2.0/'>x<p><div")[0] == "cc-by-2.0"
    )
    assert _detect(b"\x00\xff\xfe<<<>>>")[0] is None
    stage = LicenseDetectStage()
    assert stage.detect(b"%PDF-1.7 ...", "application/pdf", None, None)[0] is None


def test_pdf_rights_metadata():
    meta = json.dumps(
        {
            "pdf_rights": {
                "xmpRights:WebStatement": "https://creativecommons.org/licenses/by/4.0/",
                "dc:rights": ["This work is licensed under CC BY 4.0"],
            }
        }
    )
    lid, ev = LicenseDetectStage().detect(b"%PDF-1.4", "application/pdf", meta, None)
    assert lid == "cc-by-4.0" and ev["method"] == "pdf_rights" and len(ev["found"]) == 2


def test_stage_on_a_batch_keeps_existing_licence_of_text_only_rows():
    table = schema.documents_from_records(
        [
            {"id": "a", "text": "t", "license": "cc-by-sa-3.0"},
            {
                "id": "b",
                "text": "t",
                "raw": b'<a rel="license" href="https://creativecommons.org/licenses/by/4.0/">x</a>',
                "content_type": "text/html",
            },
            {"id": "c", "text": "t", "raw": None, "content_type": None},
        ]
    )
    out = LicenseDetectStage()(table)
    assert out.kept.num_rows == 3 and out.failed is None
    assert out.kept[schema.LICENSE].to_pylist() == ["cc-by-sa-3.0", "cc-by-4.0", None]
    evidence = [json.loads(e) for e in out.kept[schema.LICENSE_EVIDENCE].to_pylist()]
    assert evidence[0]["method"] == "input_field" and evidence[2] == {"method": None, "found": [], "source": "no_html"}


@pytest.mark.parametrize(
    "field, expected",
    [
        ("cc-by-sa-3.0", "cc-by-sa-3.0"),
        ("CC-BY-SA-3.0", "cc-by-sa-3.0"),
        ("CC BY-SA 4.0", "cc-by-sa-4.0"),
        ("http://creativecommons.org/licenses/by/4.0/", "cc-by-4.0"),  # the form in domains/academic.jsonl.gz
        ("creativecommons.org/publicdomain/zero/1.0/", "cc0-1.0"),
        ("CC-BY-SA-3.0/GFDL (Wikipedia)", "cc-by-sa-3.0"),
        ("public-domain", "pdm"),
        ("public-domain (US) + Project Gutenberg license boilerplate", "pdm"),
        ("arXiv (per paper; unknown)", None),
        ("unknown (crawled web page)", None),
        ("PSF-2.0", "PSF-2.0"),
        ("GFDL-1.1+", "GFDL-1.1+"),
    ],
)
def test_a_licence_field_gets_the_id_a_page_would(field, expected):
    lid, ev = LicenseDetectStage().detect(None, None, None, field)
    assert lid == expected and ev["field"] == field
    assert ev["method"] == ("input_field" if expected else None)


def test_licence_fields_of_real_records_pass_the_default_policy(shared_data):
    """CC BY and CC0 papers, public-domain books: allowed by the default policy as pages with those licences are."""
    from winnow.filters.rights.policy import RightsPolicyStage

    records = []
    for domain in ("academic", "books"):
        with gzip.open(shared_data / "domains" / f"{domain}.jsonl.gz", "rt", encoding="utf-8") as f:
            records += [json.loads(line) for line in itertools.islice(f, 200)]
    table = schema.documents_from_records(
        [{"id": str(i), "text": r["text"][:100], "license": r["license"]} for i, r in enumerate(records)]
    )
    kept = RightsPolicyStage()(LicenseDetectStage()(table).kept)
    statuses = dict(zip(kept.kept[schema.ID].to_pylist(), kept.kept["rights_policy_status"].to_pylist()))
    for i, r in enumerate(records):
        free = r["license"].lower().startswith(("public-domain", "http://creativecommons.org/licenses/by/",
                                                "creativecommons.org/"))
        if free:
            assert statuses.get(str(i)) == "allowed_license", r["license"]


def test_wikipedia_licence_points_to_its_own_terms_page(shared_data):
    raw = (shared_data / "license" / "wikipedia" / "wiki_duck.html").read_bytes()
    assert _detect(raw)[0] == "cc-by-sa-4.0"
    # Without the <link> to creativecommons.org, the rel=license link to Wikipedia's terms page still names it.
    stripped = raw.replace(b'<link rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/deed.en">', b"")
    assert stripped != raw
    lid, ev = _detect(stripped)
    assert (lid, ev["method"]) == ("cc-by-sa-4.0", "rel_license_named")


# Scored against the ORIGINAL labels of labels.tsv (a regular expression's: the first CC licence linked with
# rel=license, else the first CC link anywhere). Winnow disagrees with them on these pages, each opened and read by
# eye; they stay disagreements (counted against Winnow below), listed so that any new one fails the test.
DISAGREEMENTS = {
    "cc_rel_license/nalas-loewenseiten.info.m.html": (
        "cc-by-2.0", None, ("the CC links sit in escaped HTML inside image `title` attributes (with rel=\"_blank\"); "
                            "they credit Flickr photos of lions, not the page: the label is wrong")),
    "cc_link_no_rel/villacc.de.galaxy.html": (
        "cc-by-sa-2.0", None, "the only CC link is OpenStreetMap's tile attribution in the map script: label wrong"),
    "cc_link_no_rel/wir-empfehlen.info.3289.html": (
        "cc-by-3.0", None, "the CC links are Stamen/OpenStreetMap map-tile attributions inside scripts: label wrong"),
    "cc_link_no_rel/zulang.wordpress.com.genitalverstuemmelung.html": (
        "cc-by-2.0", None, "CC BY 2.0 appears only in the `title` of a header-image credit link: label wrong"),
    "cc_link_no_rel/feuerwehrtaucher-oldenburg.de.ausbildung.html": (
        "cc-by-3.0", "cc-by-sa-3.0", ("the site declares both: an HTML comment says BY 3.0, its <meta name=DC.rights> "
                                      "says BY-SA 3.0 de; Winnow takes the metadata (also the stricter): ambiguous, "
                                      "neither clearly wrong")),
}
# Winnow against the original labels, 59 pages (35 with a licence): P 30/31, R 30/35, exact 54/59. Two more of its
# errors agree with the labels and so do not show here (bummfilm.de: a script library's licence; tell-review.de: a
# photo credit): see license_judged.json, a random sample judged by one rule, and bench/rights.py.
MIN_PRECISION, MIN_RECALL, MIN_EXACT = 0.95, 0.85, 0.90
JUDGED_FILE = Path(__file__).with_name("license_judged.json")


def _label(row: dict) -> str | None:
    return (row["rel_license_cc"] or row["all_cc_links"] or "").split(",")[0] or None


def _pages(shared_data) -> list[tuple[str, str | None, str | None]]:
    """(file, original label, Winnow's licence) for every labelled page."""
    root = shared_data / "license"
    rows = list(csv.DictReader(io.StringIO((root / "labels.tsv").read_text(encoding="utf-8")), delimiter="\t"))
    stage = LicenseDetectStage()
    return [(r["file"], _label(r), stage.detect((root / "pages" / r["file"]).read_bytes(), "text/html", None, None)[0])
            for r in rows]


def prf(pairs: list[tuple[str | None, str | None]]) -> tuple[float, float, float]:
    """Precision, recall and exact agreement over (predicted, truth): a licence is right only if it is the same id."""
    tp = sum(1 for p, t in pairs if p and p == t)
    predicted, positive = sum(1 for p, _ in pairs if p), sum(1 for _, t in pairs if t)
    return tp / max(predicted, 1), tp / max(positive, 1), sum(1 for p, t in pairs if p == t) / len(pairs)


def test_labelled_pages_against_the_original_labels(shared_data):
    pages = _pages(shared_data)
    assert len(pages) >= 50
    disagree = {f: (label, ours) for f, label, ours in pages if label != ours}
    assert disagree == {f: d[:2] for f, d in DISAGREEMENTS.items()}
    precision, recall, exact = prf([(ours, label) for _, label, ours in pages])
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL and exact >= MIN_EXACT, (precision, recall, exact)


def test_judged_sample_is_the_seeded_random_draw(shared_data):
    """The judged pages were drawn at random before judging, not picked where Winnow disagreed."""
    judged = json.loads(JUDGED_FILE.read_text(encoding="utf-8"))
    rows = (shared_data / "license" / "labels.tsv").read_text(encoding="utf-8").splitlines()[1:]
    files = sorted(line.split("\t")[0] for line in rows if line)
    draw = random.Random(judged["sample"]["seed"]).sample(files, judged["sample"]["size"])
    assert sorted(p["file"] for p in judged["pages"]) == sorted(draw)
    assert all(p["evidence"] for p in judged["pages"])


def test_judged_sample(shared_data):
    """On the judged sample Winnow is right on 18 of 20 pages; the two misses are real (a script's licence, a photo
    credit taken for the page's), so the threshold leaves them, and nothing more, room."""
    judged = {p["file"]: p["license"] for p in json.loads(JUDGED_FILE.read_text(encoding="utf-8"))["pages"]}
    pairs = [(ours, judged[f]) for f, _, ours in _pages(shared_data) if f in judged]
    assert len(pairs) == len(judged)
    assert sum(p == t for p, t in pairs) >= 18
