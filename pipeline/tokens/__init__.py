"""Helpers behind `pipeline.tokenize`: reading documents for tokenization and the tiktoken fast path."""
