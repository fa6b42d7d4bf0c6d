from types import ModuleType

from django.urls import include, path, reverse

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
