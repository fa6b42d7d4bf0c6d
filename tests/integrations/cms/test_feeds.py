from datetime import UTC, datetime

import pytest

from integrations.cms import feeds
from tests.integrations.cms.feed_server import feed_file


def parse(name: str) -> feeds.Feed:
    return feeds.parse(feed_file(name), url="https://example.com/feed")


def test_it_reads_an_rss_2_feed():
    feed = parse("rss2.xml")
    post = feed.posts[0]
    assert feed.title == "Acme Engineering Blog"
    assert post.guid == "acme-post-1042"
    assert post.title == "How we cut our build times in half"
    assert post.link == "https://blog.acme.example/posts/faster-builds"
    assert post.excerpt == "Our CI took 40 minutes. Here is how caching & parallel tests took it to 18."
    assert post.author == "Dana Lee"
    assert post.categories == ["Engineering", "Developer productivity"]
    assert post.published_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert post.image_url == "https://blog.acme.example/images/builds.png"


def test_it_reads_an_atom_feed_with_the_image_from_the_content():
    post = parse("atom.xml").posts[0]
    assert post.guid == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert post.title == "Spring collection is here"
    assert post.categories == ["Launches"]
    assert post.author == "Sam Ortiz"
    assert post.image_url == "https://notes.northwind.example/img/spring.jpg"


def test_it_reads_a_wordpress_feed_without_its_continue_reading_link():
    feed = parse("wordpress.xml")
    post = feed.posts[0]
    assert feed.title == "Bloom & Co"
    assert post.guid == "https://bloomandco.example/?p=1187"
    assert post.excerpt.endswith("stay fresh the longest. …")
    assert post.categories == ["Seasonal", "winter", "bouquets"]
    assert post.image_url.endswith("bouquet-1024x683.jpg")


def test_it_names_the_feed_a_web_page_links_to():
    with pytest.raises(feeds.FeedInvalid) as raised:
        parse("page.html")
    assert "web page (HTML)" in raised.value.message
    assert "https://blog.acme.example/rss.xml" in raised.value.message


def test_it_refuses_an_entity_bomb_unexpanded():
    with pytest.raises(feeds.FeedInvalid, match="declares XML entities"):
        parse("billion_laughs.xml")


def test_it_refuses_json():
    with pytest.raises(feeds.FeedInvalid, match="JSON"):
        feeds.parse(b'{"items": []}', url="https://example.com/feed.json")


def test_it_hashes_a_guid_too_long_for_the_column():
    guid = feeds.stable_guid("x" * 600)
    assert guid.startswith("sha256:") and len(guid) < feeds.MAX_GUID
