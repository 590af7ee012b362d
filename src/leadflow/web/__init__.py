"""Web UI: the workspace where reps, managers and marketers do their daily work."""
