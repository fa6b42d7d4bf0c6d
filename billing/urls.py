from django.urls import path

from . import views

urlpatterns = [
    path("pricing/", views.pricing, name="billing_pricing"),
    path("billing/", views.billing, name="billing"),
    path("billing/checkout/", views.checkout, name="billing_checkout"),
    path("billing/portal/", views.portal, name="billing_portal"),
    path("billing/success/", views.success, name="billing_success"),
    path("billing/cancel/", views.cancel, name="billing_cancel"),
    path("billing/invoices/", views.invoices, name="billing_invoices"),
]

webhook_urlpatterns = [
    path("stripe/webhook/<uuid:uuid>/", views.stripe_webhook, name="stripe_webhook"),
]
