from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "marketing"
    verbose_name = "Accounts and workspaces"

    def ready(self) -> None:
        from . import api_schema  # noqa: F401 - registers the OpenAPI authentication schemes
        from . import signals  # noqa: F401 - connects its receivers
