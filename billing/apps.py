from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from . import signals, stripe_api  # noqa: F401  (connects receivers)

        stripe_api.configure()
        stripe_api.keep_keys_out_of_the_database()
