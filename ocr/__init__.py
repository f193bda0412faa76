"""PDF text: text-layer extraction, page routing, OCR engines, layout clean-up. Importing registers the stages."""

# Every module in this package is imported, so a new stage registers itself by existing:
# drop a module with a @register_stage class here and configs can name it.
from pipeline.registry import import_submodules as _import_submodules

_import_submodules(__name__)
