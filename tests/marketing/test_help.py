"""The help page: a few lines on each part of the product, linking to its pages."""

import re

from django.urls import reverse


def test_it_shows_the_help_page_with_a_working_link_to_each_part(alice_client):
    response = alice_client.get(reverse("help"))

    assert response.status_code == 200
    content = response.content.decode()
    main = content[content.index('<main'):]
    links = set(re.findall(r'href="(/[^"#?]*)', main))
    assert {"/campaigns/new/", "/instagram/", "/calendar/", "/triggers/", "/n8n/", "/sources/", "/billing/", "/api/docs/"} <= links
    for link in links:
        assert alice_client.get(link).status_code == 200, link
