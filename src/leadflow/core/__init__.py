"""Shared building blocks with no domain knowledge: middleware, errors, the condition engine."""
