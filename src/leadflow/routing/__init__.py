"""Routing: which rep gets which lead, and why."""
