"""Hostile and broken PDFs built in the test run: bombs, forged page counts, encryption, truncation."""

from __future__ import annotations

import zlib

import pymupdf


def pdf_from_objects(objects: list[bytes], root: int = 1) -> bytes:
    """A well-formed PDF (correct xref offsets) from numbered object bodies: objects[0] is object 1."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def text_pdf(pages: list[str]) -> bytes:
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        page.insert_text((72, 100), text, fontsize=12)
    return doc.tobytes()


def encrypted_pdf() -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 100), "secret text", fontsize=12)
    return doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="user", owner_pw="owner")


def zero_page_pdf() -> bytes:
    return pdf_from_objects([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])


def many_pages_pdf(count: int) -> bytes:
    """`count` empty pages: a gigantic page count from a few bytes per page."""
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(count))
    pages = [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"] * count
    return pdf_from_objects(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count, *pages]
    )


def image_bomb_pdf(side: int = 20000) -> bytes:
    """A page-sized grey image of side x side pixels, flate-compressed zeros: ~side²/1000 bytes on disk,
    side² bytes once decoded (400 MB at 20000)."""
    comp = zlib.compressobj(9)
    row_block = b"\x00" * (side * 64)
    parts = [comp.compress(row_block) for _ in range(side // 64)]
    parts.append(comp.flush())
    image = stream(
        b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
        b"/Filter /FlateDecode" % (side, side),
        b"".join(parts),
    )
    content = stream(b"", b"q 612 0 0 792 0 0 cm /Im1 Do Q")
    return pdf_from_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            (
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                b"/Resources << /XObject << /Im1 5 0 R >> >> >>"
            ),
            content,
            image,
        ]
    )


def _flate_zeros(n_bytes: int) -> bytes:
    """n_bytes (a whole number of MiB) of zeros as a zlib stream, in O(1) time: after a full flush every
    1 MiB block of zeros deflates to the same bytes; the Adler-32 of n zeros is (n mod 65521) << 16 | 1."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b"\x00" * (1 << 20)
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    body = first + again * ((n_bytes >> 20) - 1) + comp.flush()
    return b"\x78\xda" + body + (((n_bytes % 65521) << 16) | 1).to_bytes(4, "big")


def font_bomb_pdf(megabytes: int = 600) -> bytes:
    """Text set in an embedded font whose flate stream inflates to `megabytes` MiB: mupdf must load a font
    whole, so reading the page's text allocates all of it."""
    font_file = stream(b"/Filter /FlateDecode /Length1 %d" % (megabytes << 20), _flate_zeros(megabytes << 20))
    content = stream(b"", b"BT /F1 24 Tf 72 700 Td (Hello bomb) Tj ET")
    return pdf_from_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            (
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                b"/Resources << /Font << /F1 5 0 R >> >> >>"
            ),
            content,
            (
                b"<< /Type /Font /Subtype /TrueType /BaseFont /Bomb /FirstChar 32 /LastChar 126 "
                b"/FontDescriptor 6 0 R >>"
            ),
            (
                b"<< /Type /FontDescriptor /FontName /Bomb /Flags 32 /FontBBox [0 0 1000 1000] /ItalicAngle 0 "
                b"/Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 /FontFile2 7 0 R >>"
            ),
            font_file,
        ]
    )


def content_bomb_pdf(megabytes: int = 1500) -> bytes:
    """A page whose content stream inflates to `megabytes` MiB of NUL bytes (whitespace to the PDF lexer):
    little memory, but seconds of work — a case for the time limit rather than the memory limit."""
    content = stream(b"/Filter /FlateDecode", _flate_zeros(megabytes << 20))
    return pdf_from_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            content,
        ]
    )
