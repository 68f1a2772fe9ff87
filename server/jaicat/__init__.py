"""Jaicat: a self-hosted photo companion for one household."""

__version__ = "0.1.0"
