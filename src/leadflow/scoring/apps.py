from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "leadflow.scoring"
    label = "scoring"
