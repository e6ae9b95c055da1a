"""Placeholder: filled in by the corruption implementation."""
