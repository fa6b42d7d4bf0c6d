from django.apps import AppConfig


class CmsConfig(AppConfig):
    name = "integrations.cms"
    label = "cms"
    verbose_name = "Content sources"
