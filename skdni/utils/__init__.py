"""Utilities for people building on skdni."""
