"""Stages that annotate or drop documents. Each registers through the `winnow.stages` entry points."""
