from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "leadflow.pipeline"
    label = "pipeline"
