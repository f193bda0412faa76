"""PDF text: text-layer extraction, page routing, OCR engines, layout clean-up (stages in `winnow.stages`)."""
