"""Mixture optimisation: proxy-model swarms, regression over mixtures, the optimiser and its validation."""
