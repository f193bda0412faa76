"""`winnow train-tokenizer`: train a byte-level BPE tokenizer on curated documents (all local)."""

from __future__ import annotations

import typer

from winnow.pipeline.cli.app import app
from winnow.pipeline.cli.common import console, fail


@app.command("train-tokenizer")
def train_tokenizer_command(
    input: list[str] = typer.Option(
        ..., "--input", "-i", help="A run output dir, Parquet/JSONL files or globs; repeatable."
    ),
    vocab_size: int = typer.Option(..., "--vocab-size", help="Vocabulary size, EOS included (≥ 257)."),
    output: str = typer.Option(..., "--output", "-o", help="Directory for tokenizer.json and tokenizer_config.json."),
    eos_token: str = typer.Option("<|endoftext|>", "--eos-token", help="The end-of-document special token."),
) -> None:
    """Train a byte-level BPE (every byte encodable, EOS as a special token) and write DIR/tokenizer.json."""
    from winnow.pipeline.storage import InputError
    from winnow.pipeline.tokens.documents import document_files
    from winnow.pipeline.tokens.tokenizer import Tokenizer, train_tokenizer

    try:
        # expanded here: every --input must name documents (train_tokenizer would take strings that are no path
        # for texts to train on)
        path = train_tokenizer(document_files(input), vocab_size, output, eos_token=eos_token)
        tok = Tokenizer.load(path)
    except (InputError, ValueError) as exc:  # TokenizerError is a ValueError
        fail(str(exc))
    console.print(
        f"{tok.vocab_size:,}-token byte-level BPE (eos {tok.eos_token!r} = {tok.eos_id}, "
        f"hash {tok.fingerprint}) → {path}"
    )
