"""Every add form in the admin can be sent as it is shown: a staff member pressing Save gets the
form back with what is missing, or the row, never a 500. Admins of rows only the system writes
offer no add form at all, nor do dj-stripe's, whose rows mirror objects at Stripe."""

from django.contrib import admin
from django.urls import reverse

from tests.test_no_500s import GARBAGE, OUT_OF_RANGE, _PostForms


def _admin_forms(client, rf, staff, *, changes: bool):
    """(path, field names) of every admin add form staff may use, and of every change form of a
    model with a row when ``changes``; the client signed in as ``staff`` and answering 500s."""
    client.force_login(staff)
    client.raise_request_exception = False
    request = rf.get("/admin/")
    request.user = staff
    for model, model_admin in admin.site._registry.items():
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        paths = [reverse(f"{name}_add")] if model_admin.has_add_permission(request) else []
        if changes and (first := model._default_manager.first()):
            paths.append(reverse(f"{name}_change", args=[first.pk]))
        for path in paths:
            parser = _PostForms()
            parser.feed(client.get(path).content.decode())
            for action, fields in parser.forms:
                if not action:  # the page's own form, not the header's log-out button
                    yield path, fields - {"csrfmiddlewaretoken"}


def test_it_answers_every_admin_add_form_sent_as_shown(client, rf, staff_alice, pages):
    sent = [
        (path, client.post(path, dict.fromkeys(fields, "")).status_code)
        for path, fields in _admin_forms(client, rf, staff_alice, changes=False)
    ]

    assert len(sent) > 10
    assert [(path, status) for path, status in sent if status >= 500] == []


def test_it_offers_no_add_form_for_rows_only_the_system_writes(client, staff_alice):
    client.force_login(staff_alice)

    for name in (
        "billing_billingaccount", "billing_meterevent", "billing_receivedevent", "campaigns_imagegeneration",
        "djstripe_webhookendpoint", "djstripe_customer", "djstripe_invoice",
    ):
        assert client.get(reverse(f"admin:{name}_add")).status_code == 403, name


def test_it_answers_garbage_in_every_field_of_every_admin_form_with_the_form(client, rf, staff_alice, pages):
    """Every add and change form of the admin, the vendors' included, each field given each garbage
    value at once: autocomplete keys that are not numbers or too big for their column included."""
    failed, sent = [], 0
    for path, fields in _admin_forms(client, rf, staff_alice, changes=True):
        for value in GARBAGE + OUT_OF_RANGE:
            status = client.post(path, dict.fromkeys(fields, value)).status_code
            sent += 1
            if status >= 500:
                failed.append((path, value[:20], status))
    assert sent > 100
    assert failed == []
