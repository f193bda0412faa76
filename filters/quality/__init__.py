"""Model-based quality: train fastText classifiers, score documents with them, keep by threshold or percentile."""
