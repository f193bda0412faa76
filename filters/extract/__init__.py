"""HTML to text: the `extract` stage and its extractors."""
