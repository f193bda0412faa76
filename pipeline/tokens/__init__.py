"""Tokenization: a local tokenizer and BPE training (tokenizer.py), per-domain token pools (pools.py), reading documents for them (documents.py) and the tiktoken fast path (tiktoken_bpe.py)."""
