"""Nurture: segments, lists, campaigns and follow-ups."""
