"""The WordPress REST API: the only code that knows its routes and payloads.

Routes are reached as ``?rest_route=/wp/v2/...``, which every WordPress answers whatever its
permalink settings (``/wp-json/`` needs pretty permalinks). Authentication is an application
password (WordPress 5.6+) sent as HTTP Basic auth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from integrations import fetch, http

from .feeds import Post, excerpt, stable_guid

PER_PAGE = 20
# Answers of the site's API are small; a post list with embeds stays well under this.
MAX_API_BYTES = 5 * 1024 * 1024


class WordPressError(fetch.FetchError):
    pass


@dataclass(frozen=True)
class Site:
    name: str
    url: str
    user: str = ""  # the application password's user, when one was checked


def route_url(base_url: str, route: str) -> str:
    return f"{base_url.rstrip('/')}/?rest_route={route}"


def _auth(username: str, password: str) -> tuple[str, str] | None:
    # WordPress shows application passwords in groups of four; it accepts them with or without spaces.
    return (username, password.replace(" ", "")) if username and password else None


def _json(fetched: fetch.Fetched, what: str) -> Any:
    try:
        return json.loads(fetched.body)
    except ValueError:
        raise WordPressError(
            f"{what}: the site did not answer with WordPress's JSON. Is this the address of a WordPress site, "
            "with its REST API on?"
        ) from None


def check(*, base_url: str, username: str = "", password: str = "") -> Site:
    """The site's name, and with credentials the user they belong to; WordPressError otherwise."""
    index = _json(fetch.get(route_url(base_url, "/"), limit=MAX_API_BYTES), "The API index")
    if not isinstance(index, dict) or "wp/v2" not in (index.get("namespaces") or []):
        raise WordPressError("The site answers, but without WordPress's wp/v2 API.")
    user = ""
    if username or password:
        try:
            me = _json(
                fetch.get(route_url(base_url, "/wp/v2/users/me"), auth=_auth(username, password), limit=MAX_API_BYTES),
                "The user check",
            )
        except fetch.FetchError as error:
            if error.status in (401, 403):
                raise WordPressError(
                    "WordPress refused the user name and application password (HTTP "
                    f"{error.status}). Create an application password under Users → Profile."
                ) from None
            raise
        user = str(me.get("name") or me.get("slug") or username)
    return Site(name=str(index.get("name") or ""), url=str(index.get("url") or base_url), user=user)


def recent_posts(
    *, base_url: str, username: str = "", password: str = "", etag: str = "", last_modified: str = ""
) -> tuple[fetch.Fetched, list[Post]]:
    """The newest published posts with author, terms and featured image embedded."""
    fetched = fetch.get(
        route_url(base_url, "/wp/v2/posts"),
        params={"per_page": PER_PAGE, "orderby": "date", "order": "desc", "status": "publish", "_embed": "1"},
        auth=_auth(username, password),
        etag=etag,
        last_modified=last_modified,
        limit=MAX_API_BYTES,
    )
    if fetched.not_modified:
        return fetched, []
    data = _json(fetched, "The post list")
    if not isinstance(data, list):
        raise WordPressError("The post list is not a list; is this a WordPress site?")
    return fetched, [post_from_json(item) for item in data if isinstance(item, dict) and "id" in item]


def post_from_json(item: dict[str, Any]) -> Post:
    embedded = item.get("_embedded") or {}
    categories: list[str] = []
    tags: list[str] = []
    for group in embedded.get("wp:term") or []:
        for term in group or []:
            name = excerpt(str(term.get("name", "")))
            if term.get("taxonomy") == "category":
                categories.append(name)
            elif term.get("taxonomy") == "post_tag":
                tags.append(name)
    authors = embedded.get("author") or []
    media = embedded.get("wp:featuredmedia") or []
    published = parse_datetime(str(item.get("date_gmt") or ""))
    if published is not None and published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return Post(
        guid=stable_guid(f"wp:{item['id']}"),
        title=excerpt(_rendered(item.get("title"))) or "(untitled)",
        link=str(item.get("link") or "")[:2000],
        excerpt=excerpt(_rendered(item.get("excerpt")) or _rendered(item.get("content"))),
        author=str(authors[0].get("name", "")) if authors and isinstance(authors[0], dict) else "",
        categories=categories[:30],
        tags=tags[:30],
        published_at=published if isinstance(published, datetime) else None,
        image_url=str(media[0].get("source_url") or "") if media and isinstance(media[0], dict) else "",
    )


def _rendered(value: Any) -> str:
    return str(value.get("rendered", "")) if isinstance(value, dict) else str(value or "")


# Writing: the campaign destination ----------------------------------------------------------------

# Posts and media the app creates carry this marker (in the slug and the file name), so a retry
# finds what an earlier attempt created even when its answer was lost.
MARKER_PREFIX = "mkt-"


@dataclass(frozen=True)
class Created:
    id: int
    link: str


def _write(
    method: str, base_url: str, route: str, *, username: str, password: str, what: str, **kwargs: Any
) -> Any:
    """One write (or authenticated read) to the site's API, answered JSON; WordPressError otherwise."""
    url = route_url(base_url, route)
    if problem := fetch.check_url(url):
        raise WordPressError(problem)
    host = url.split("/")[2]
    try:
        response = http.request(
            fetch.PROVIDER,
            method,
            url,
            auth=_auth(username, password),
            allow_redirects=False,
            retries=0,
            timeout=(settings.CMS_CONNECT_TIMEOUT, settings.CMS_UPLOAD_TIMEOUT),
            breaker=f"{fetch.PROVIDER}:{host}",
            workspace_url=True,
            **kwargs,
        )
    except http.CircuitOpenError as error:
        raise WordPressError(f"{what}: the site failed several times in a row; trying later.", retryable=True) from None
    except http.ProviderError as error:
        raise WordPressError(f"{what}: {_refusal(error)}", retryable=error.retryable, status=error.status) from None
    if response.status_code >= 300:
        raise WordPressError(f"{what}: the site answered HTTP {response.status_code} (a redirect); check its address.")
    try:
        return response.json()
    except ValueError:
        raise WordPressError(f"{what}: the site did not answer with WordPress's JSON.") from None


def _refusal(error: http.ProviderError) -> str:
    """WordPress's own message ({"code", "message"}) when it gave one."""
    body: Any = None
    if error.response is not None:
        try:
            body = error.response.json()
        except ValueError:
            body = None
    message = body.get("message") if isinstance(body, dict) else None
    if error.status in (401, 403):
        return f"WordPress refused the user name and application password (HTTP {error.status}){': ' + message if message else ''}."
    if message:
        return f"WordPress answered HTTP {error.status}: {excerpt(str(message))}"
    if error.status:
        return f"WordPress answered HTTP {error.status}."
    return fetch._describe(error)


def find_post(*, base_url: str, username: str, password: str, slug: str) -> Created | None:
    """A post with ``slug`` in any status, or None."""
    found = _write(
        "GET", base_url, "/wp/v2/posts", username=username, password=password, what="Looking for the post",
        params={"slug": slug, "status": "publish,future,draft,pending,private", "context": "edit"},
    )  # fmt: skip
    for post in found if isinstance(found, list) else []:
        if post.get("slug") == slug:
            return Created(id=int(post["id"]), link=str(post.get("link") or ""))
    return None


def find_media(*, base_url: str, username: str, password: str, name: str) -> Created | None:
    found = _write(
        "GET", base_url, "/wp/v2/media", username=username, password=password, what="Looking for the image",
        params={"search": name, "context": "edit", "per_page": 20},
    )  # fmt: skip
    for media in found if isinstance(found, list) else []:
        if str(media.get("source_url", "")).rsplit("/", 1)[-1].startswith(name):
            return Created(id=int(media["id"]), link=str(media.get("source_url") or ""))
    return None


def upload_media(*, base_url: str, username: str, password: str, name: str, content: bytes, alt: str = "") -> Created:
    """Uploads a JPEG to the media library as ``<name>.jpg``."""
    media = _write(
        "POST", base_url, "/wp/v2/media", username=username, password=password, what="Uploading the image",
        data=content,
        headers={"Content-Type": "image/jpeg", "Content-Disposition": f'attachment; filename="{name}.jpg"'},
    )  # fmt: skip
    if alt:
        _write(
            "POST", base_url, f"/wp/v2/media/{media['id']}", username=username, password=password,
            what="Describing the image", json={"alt_text": alt[:500]},
        )  # fmt: skip
    return Created(id=int(media["id"]), link=str(media.get("source_url") or ""))


def term_ids(*, base_url: str, username: str, password: str, taxonomy: str, names: list[str]) -> list[int]:
    """The ids of the category or tag names (``taxonomy`` "categories" or "tags"), created when missing."""
    ids: list[int] = []
    for name in names:
        found = _write(
            "GET", base_url, f"/wp/v2/{taxonomy}", username=username, password=password,
            what=f"Looking up {taxonomy}", params={"search": name, "per_page": 100},
        )  # fmt: skip
        match = next((t for t in found if isinstance(t, dict) and str(t.get("name", "")).lower() == name.lower()), None)
        if match is None:
            match = _write(
                "POST", base_url, f"/wp/v2/{taxonomy}", username=username, password=password,
                what=f"Creating “{name}” in {taxonomy}", json={"name": name},
            )  # fmt: skip
        ids.append(int(match["id"]))
    return ids


def create_post(*, base_url: str, username: str, password: str, fields: dict[str, Any]) -> Created:
    post = _write("POST", base_url, "/wp/v2/posts", username=username, password=password, what="Creating the post", json=fields)
    return Created(id=int(post["id"]), link=str(post.get("link") or ""))
