"""Analytics: funnel, sources, cost and speed-to-lead figures."""
