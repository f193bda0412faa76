"""Winnow's engine: document schema, stage contract, runner, readers, writers, accounting and CLI."""

__version__ = "0.1.0"
