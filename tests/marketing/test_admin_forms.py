"""Every add form in the admin can be sent as it is shown: a staff member pressing Save gets the
form back with what is missing, or the row, never a 500. Admins of rows only the system writes
offer no add form at all."""

from django.contrib import admin
from django.urls import reverse

from tests.test_no_500s import _PostForms


def test_it_answers_every_admin_add_form_sent_as_shown(client, rf, staff_alice, pages):
    client.force_login(staff_alice)
    client.raise_request_exception = False
    request = rf.get("/admin/")
    request.user = staff_alice
    failed, sent = [], 0
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_add_permission(request):
            continue
        path = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
        parser = _PostForms()
        parser.feed(client.get(path).content.decode())
        for _, fields in parser.forms:
            status = client.post(path, dict.fromkeys(fields - {"csrfmiddlewaretoken"}, "")).status_code
            sent += 1
            if status >= 500:
                failed.append((path, status))
    assert sent > 30
    assert failed == []


def test_it_offers_no_add_form_for_rows_only_the_system_writes(client, staff_alice):
    client.force_login(staff_alice)

    for name in (
        "billing_billingaccount", "billing_meterevent", "billing_receivedevent", "campaigns_imagegeneration",
        "djstripe_webhookendpoint",
    ):
        assert client.get(reverse(f"admin:{name}_add")).status_code == 403, name
