"""Capture: the one intake flow that every source runs through."""
