"""The lead record and what is kept on it: fields, custom fields, timeline, stages, consent, touches."""
