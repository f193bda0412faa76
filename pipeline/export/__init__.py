"""Tokenized export: mix per-domain token pools by weight into Megatron and numpy shards with a manifest."""

from winnow.pipeline.export.config import ExportConfig, load_export_config, load_weights
from winnow.pipeline.export.formats import read_flat, read_megatron, write_flat, write_megatron
from winnow.pipeline.export.run import ExportError, prepare, run_export

__all__ = [
    "ExportConfig",
    "ExportError",
    "load_export_config",
    "load_weights",
    "prepare",
    "read_flat",
    "read_megatron",
    "run_export",
    "write_flat",
    "write_megatron",
]
