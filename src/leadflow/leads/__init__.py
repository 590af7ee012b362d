"""The lead record and everything kept on it: fields, custom fields, timeline, stages, consent, attribution."""
