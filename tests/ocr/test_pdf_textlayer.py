"""Reading order, de-hyphenation and running header/footer removal on the text layer."""

from __future__ import annotations

import pymupdf

from winnow.ocr.document import ExtractOptions, extract_pdf
from winnow.ocr.textlayer import Block, block_text, order_blocks, remove_running_blocks

LEFT = "Left column paragraph about sparrows and their nests in old barns near the river."
RIGHT = "Right column paragraph about herons wading in the shallow water at dawn."


def test_two_columns_read_left_then_right():
    blocks = [
        Block(300, 100, 550, 140, "R1"),
        Block(50, 100, 290, 140, "L1"),
        Block(300, 150, 550, 190, "R2"),
        Block(50, 150, 290, 190, "L2"),
        Block(50, 40, 550, 60, "Title across both columns"),
        Block(50, 300, 550, 320, "Full-width figure caption"),
        Block(50, 330, 290, 360, "L3"),
        Block(300, 330, 550, 360, "R3"),
    ]
    order = [b.text for b in order_blocks(blocks)]
    assert order == ["Title across both columns", "L1", "L2", "R1", "R2", "Full-width figure caption", "L3", "R3"]


def test_table_rows_stay_rows():
    cells = [
        Block(x, y, x + 80, y + 10, f"r{r}c{c}")
        for r, y in enumerate((100, 120, 140))
        for c, x in enumerate((50, 200, 350))
    ]
    order = [b.text for b in order_blocks(list(reversed(cells)))]
    assert order == ["r0c0", "r0c1", "r0c2", "r1c0", "r1c1", "r1c2", "r2c0", "r2c1", "r2c2"]


def test_block_text_dehyphenates_and_unwraps_prose():
    text = (
        "The committee considered the docu-\nment at length and found the argu-\nments convincing in every respect.\n"
    )
    assert (
        block_text(text)
        == "The committee considered the document at length and found the arguments convincing in every respect."
    )
    # short lines (code, lists) keep their breaks; a hyphen before a capital is not a line-break hyphen
    assert block_text("x = 1\ny = 2\n") == "x = 1\ny = 2"
    assert block_text("Jean-\nPaul") == "Jean-\nPaul"


def test_running_headers_footers_and_page_numbers_removed():
    pages = []
    for i in range(4):
        pages.append(
            [
                Block(50, 20, 300, 35, "Journal of Examples, Vol. 3"),
                Block(50, 100, 500, 600, f"Body text of page {i} with its own words."),
                Block(290, 760, 310, 775, str(i + 1)),
            ]
        )
    kept, removed = remove_running_blocks(pages, [792.0] * 4)
    assert removed == 8
    assert [[b.text for b in p] for p in kept] == [[f"Body text of page {i} with its own words."] for i in range(4)]


def test_body_text_repeated_outside_margins_is_kept():
    pages = [[Block(50, 300, 500, 320, "Same sentence in the body.")] for _ in range(3)]
    kept, removed = remove_running_blocks(pages, [792.0] * 3)
    assert removed == 0 and all(kept)


def _two_column_pdf() -> bytes:
    doc = pymupdf.open()
    for i in range(3):
        page = doc.new_page()
        page.insert_text((72, 40), "Running Header of the Report", fontsize=9)
        page.insert_textbox(pymupdf.Rect(72, 80, 290, 400), f"{LEFT} Page {i}.", fontsize=11)
        page.insert_textbox(pymupdf.Rect(320, 80, 540, 400), f"{RIGHT} Page {i}.", fontsize=11)
        page.insert_text((300, 770), str(i + 1), fontsize=9)
    return doc.tobytes()


def test_extract_pdf_orders_columns_and_strips_running_lines():
    result = extract_pdf(_two_column_pdf(), ExtractOptions(), engine=None)
    text = result["text"]
    assert "Running Header" not in text
    assert result["routes"] == ["text_layer"] * 3
    for i, (start, end) in enumerate(result["offsets"]):
        page = " ".join(text[start:end].split())
        assert page.index("sparrows") < page.index("herons"), page
        assert f"Page {i}." in page
        assert not page.rstrip().endswith(str(i + 1))
    assert result["counters"]["pdf_header_footer_blocks_removed"] == 6
