from django.apps import AppConfig


class ReconstructionConfig(AppConfig):
    name = "reconstruction"
    verbose_name = "Reconstruction"

    def ready(self):
        from . import services, signals, tasks  # noqa: F401  (signals: files go with their rows)

        services.queue_training = tasks.train_group.enqueue
