"""The admin for n8n connections and workflows."""

import pytest

from integrations.n8n import services
from tests.factories import UserFactory


@pytest.fixture
def staff_client(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_it_never_shows_the_key_or_the_secret_on_the_connection_page(staff_client, alice_workspace):
    connection = services.connection_ensure(workspace=alice_workspace)
    services.connection_update(connection=connection, base_url="https://n8n.alice.example", api_key="alice-key-123")
    response = staff_client.get(f"/admin/n8n/n8nconnection/{connection.pk}/change/")
    assert response.status_code == 200
    assert b"alice-key-123" not in response.content
    assert connection.callback_secret.encode() not in response.content


def test_it_shows_installed_workflows_in_the_workflow_list(staff_client, alice_workflow):
    response = staff_client.get("/admin/n8n/n8nworkflow/")
    assert alice_workflow.n8n_id.encode() in response.content
