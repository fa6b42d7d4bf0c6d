from django.apps import AppConfig


class CmsConfig(AppConfig):
    name = "integrations.cms"
    label = "cms"
    verbose_name = "Content sources"

    def ready(self) -> None:
        from campaigns import destinations

        from .destination import WordPressDestination

        destinations.register(WordPressDestination())
