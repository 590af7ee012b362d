"""Users, roles, teams and API keys: who may act, and on which leads."""
