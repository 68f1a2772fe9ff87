"""Folder suggestion: an online engine that learns from every decision, its evaluation, and the Suggester
that connects it to the catalogue (`jaicat.suggest.service`)."""

from .engine import SIGNALS, SuggestEngine, Suggestion
from .features import PhotoFeatures, parse_record

__all__ = ["SIGNALS", "PhotoFeatures", "SuggestEngine", "Suggestion", "parse_record"]
