from types import ModuleType

from django.urls import get_script_prefix, include, path, reverse, set_script_prefix

from marketing.jinja import urls


def test_it_links_as_reverse_does(rf):
    url = urls(rf.get("/"))["url"]
    assert url("campaign_detail", 5) == reverse("campaign_detail", args=[5]) == "/campaigns/5/"
    assert url("campaign_detail", 5) == "/campaigns/5/"  # remembered, the same
    assert url("campaign_list") == reverse("campaign_list")


def test_it_follows_a_changed_urlconf(rf, settings):
    assert urls(rf.get("/"))["url"]("campaign_detail", 5) == "/campaigns/5/"
    moved = ModuleType("moved_urls")
    moved.urlpatterns = [path("app/", include("marketing.urls"))]
    settings.ROOT_URLCONF = moved
    assert urls(rf.get("/"))["url"]("campaign_detail", 5) == "/app/campaigns/5/"


def test_it_follows_the_script_prefix(rf):
    before = get_script_prefix()
    try:
        set_script_prefix("/mounted/")
        assert urls(rf.get("/"))["url"]("campaign_detail", 5) == "/mounted/campaigns/5/"
    finally:
        set_script_prefix(before)
    assert urls(rf.get("/"))["url"]("campaign_detail", 5) == "/campaigns/5/"
