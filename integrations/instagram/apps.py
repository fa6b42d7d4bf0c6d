from django.apps import AppConfig


class InstagramConfig(AppConfig):
    name = "integrations.instagram"
    label = "instagram"
    verbose_name = "Instagram"

    def ready(self) -> None:
        from campaigns import destinations

        from .destination import InstagramDestination

        destinations.register(InstagramDestination())
