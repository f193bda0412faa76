"""Deduplication stages: exact text and URL dedup, fuzzy MinHash-LSH dedup, repeated-line removal."""
