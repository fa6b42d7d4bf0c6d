from django.apps import AppConfig


class N8nConfig(AppConfig):
    name = "integrations.n8n"
    label = "n8n"
    verbose_name = "n8n"
