from django.apps import AppConfig


class ReconstructionConfig(AppConfig):
    name = "reconstruction"
    verbose_name = "Reconstruction"

    def ready(self):
        from . import signals  # noqa: F401  (weights go with their rows)
