from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "leadflow.access"
    label = "access"
