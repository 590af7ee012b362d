"""Tracking: behaviour events (page views, downloads, product usage) recorded on leads."""
