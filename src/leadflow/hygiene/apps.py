from django.apps import AppConfig


class HygieneConfig(AppConfig):
    name = "leadflow.hygiene"
    label = "hygiene"
