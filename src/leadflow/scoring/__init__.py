"""Scoring and qualification of leads."""
