from django.apps import AppConfig


class N8nConfig(AppConfig):
    name = "integrations.n8n"
    label = "n8n"
    verbose_name = "n8n"

    def ready(self) -> None:
        from campaigns import destinations

        from .destination import N8nDestination

        destinations.register(N8nDestination())
