"""A fake Graph API behind the ``responses`` library, shaped like Meta's documented answers.

``graph`` answers every call under ``INSTAGRAM_GRAPH_URL`` (a 127.0.0.1 address, so nothing could
leave the machine even if interception failed) from its own state: containers, published media,
the publishing quota, insights. Tests script failures with ``graph.fail(endpoint, code=…)`` and
container states with ``graph.statuses``; ``graph.calls`` records what was asked.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from django.utils import timezone

from integrations.instagram.models import InstagramAccount
from tests.factories import CampaignFactory, add_image

GRAPH_URL = "http://127.0.0.1:9/graph/v23.0"
IG_USER_ID = "17841400000000001"
LONG_TOKEN = "EAAlonglivedtokenSECRET123"
SHORT_TOKEN = "EAAshorttokenSECRET456"


@dataclass
class Call:
    method: str
    endpoint: str
    path: str
    params: dict[str, str]


@dataclass
class FakeGraph:
    calls: list[Call] = field(default_factory=list)
    containers: dict[str, dict] = field(default_factory=dict)
    media: list[dict] = field(default_factory=list)
    stories: list[dict] = field(default_factory=list)  # live stories, which /media does not list
    failures: dict[str, deque] = field(default_factory=dict)
    # Status codes the next container status checks answer, in order; then FINISHED.
    statuses: deque = field(default_factory=deque)
    quota_usage: int = 0
    quota_total: int = 100
    publish_times_out: bool = False
    media_insights: dict[str, dict] = field(default_factory=dict)  # media id -> {metric: value}
    account_insights: dict = field(
        default_factory=lambda: {"views": 900, "reach": 400, "accounts_engaged": 40, "total_interactions": 55}
    )
    followers_count: int = 1234
    pages: list[dict] = field(
        default_factory=lambda: [
            {
                "id": "1000001",
                "name": "Alice Co Page",
                "instagram_business_account": {
                    "id": IG_USER_ID,
                    "username": "aliceco",
                    "profile_picture_url": "https://scontent.example/alice.jpg",
                },
            },
            {"id": "1000002", "name": "A Page without Instagram"},
        ]
    )
    _ids: int = 17900000000000000

    # Scripting -------------------------------------------------------------------------------

    def fail(self, endpoint: str, *, code: int, subcode: int | None = None, message: str = "", times: int = 1,
             status: int = 400, transient: bool = False) -> None:
        error = {
            "message": message or f"(#{code}) Scripted failure",
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "AbCdEfGhIj",
            "is_transient": transient,
        }
        if subcode is not None:
            error["error_subcode"] = subcode
        self.failures.setdefault(endpoint, deque()).extend([(status, {"error": error})] * times)

    def called(self, endpoint: str) -> list[Call]:
        return [call for call in self.calls if call.endpoint == endpoint]

    # Serving ---------------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._ids += 1
        return str(self._ids)

    def __call__(self, request: requests.PreparedRequest):
        url = urlsplit(request.url)
        path = url.path[len(urlsplit(GRAPH_URL).path) + 1 :]
        params = dict(parse_qsl(url.query))
        if request.body:
            body = request.body.decode() if isinstance(request.body, bytes) else request.body
            params.update(parse_qsl(body))
        endpoint = self._endpoint(request.method, path, params)
        self.calls.append(Call(request.method, endpoint, path, params))
        queued = self.failures.get(endpoint)
        if queued:
            status, payload = queued.popleft()
            return status, {"Content-Type": "application/json"}, json.dumps(payload)
        answer = getattr(self, f"_{endpoint}")(path, params)
        if isinstance(answer, Exception):
            return answer
        if isinstance(answer, tuple):  # (status, error body)
            return answer[0], {"Content-Type": "application/json"}, json.dumps(answer[1])
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    def _endpoint(self, method: str, path: str, params: dict) -> str:
        parts = path.split("/")
        if path == "oauth/access_token":
            return "refresh" if params.get("grant_type") == "fb_exchange_token" and params.get("fb_exchange_token") == LONG_TOKEN else (
                "long_lived" if params.get("grant_type") == "fb_exchange_token" else "code_exchange"
            )
        if path == "me/accounts":
            return "pages"
        if len(parts) == 2:
            edge = parts[1]
            if edge == "media":
                return "create_container" if method == "POST" else "recent_media"
            if edge == "stories":
                return "recent_stories"
            return {
                "content_publishing_limit": "quota",
                "media_publish": "media_publish",
                "comments": "comment",
            }.get(edge, "media_insights" if parts[0] != IG_USER_ID else "account_insights")
        if parts[0] in self.containers:
            return "container_status"
        if parts[0] == IG_USER_ID:
            return "profile"
        return "permalink"

    def _code_exchange(self, path, params):
        return {"access_token": SHORT_TOKEN, "token_type": "bearer", "expires_in": 5400}

    def _long_lived(self, path, params):
        return {"access_token": LONG_TOKEN, "token_type": "bearer", "expires_in": 5183944}

    def _refresh(self, path, params):
        return {"access_token": LONG_TOKEN + "-fresh", "token_type": "bearer", "expires_in": 5183944}

    def _pages(self, path, params):
        return {"data": self.pages, "paging": {"cursors": {"before": "QVFIUb", "after": "QVFIUa"}}}

    def _quota(self, path, params):
        return {"data": [{"quota_usage": self.quota_usage, "config": {"quota_total": self.quota_total, "quota_duration": 86400}}]}

    def _create_container(self, path, params):
        container_id = self._new_id()
        self.containers[container_id] = {"params": params, "status": "IN_PROGRESS", "published": False}
        return {"id": container_id}

    def _container_status(self, path, params):
        container = self.containers[path]
        if container["published"]:
            code = "PUBLISHED"
        else:
            code = self.statuses.popleft() if self.statuses else "FINISHED"
        container["status"] = code
        answer = {"status_code": code, "id": path}
        if code == "ERROR":
            answer["status"] = "Error: Media upload has failed with error code 2207026"
        return answer

    def _media_publish(self, path, params):
        container = self.containers[params["creation_id"]]
        media_id = self._new_id()
        container["published"] = True
        published = self.stories if container["params"].get("media_type") == "STORIES" else self.media
        published.insert(
            0,
            {
                "id": media_id,
                "caption": container["params"].get("caption", ""),
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                "permalink": f"https://www.instagram.com/p/{media_id}/",
            },
        )
        if self.publish_times_out:
            self.publish_times_out = False
            return requests.exceptions.ReadTimeout("read timed out")
        return {"id": media_id}

    def _recent_media(self, path, params):
        return {"data": self.media[: int(params.get("limit", 25))]}

    def _recent_stories(self, path, params):
        return {"data": self.stories[: int(params.get("limit", 25))]}

    def _permalink(self, path, params):
        return {"permalink": f"https://www.instagram.com/p/{path}/", "id": path}

    def _comment(self, path, params):
        return {"id": self._new_id()}

    def _media_insights(self, path, params):
        media_id = path.split("/")[0]
        if media_id in {story["id"] for story in self.stories} and set(params["metric"].split(",")) & {"likes", "comments", "saved"}:
            # As Instagram answers: a story has no likes, comments or saves to count.
            return 400, {"error": {"message": "(#100) metric[2] must be one of the following values: reach, replies, "
                                   "navigation, follows, profile_visits, profile_activity, shares, total_interactions, views",
                                   "type": "OAuthException", "code": 100}}
        values = self.media_insights.get(media_id, {"views": 120, "reach": 80, "likes": 9, "comments": 2, "shares": 1, "saved": 3, "total_interactions": 15})
        return {
            "data": [
                {
                    "name": name,
                    "period": "lifetime",
                    "values": [{"value": values[name]}],
                    "title": name.title(),
                    "description": "",
                    "id": f"{media_id}/insights/{name}/lifetime",
                }
                for name in params["metric"].split(",")
                if name in values
            ]
        }

    def _account_insights(self, path, params):
        return {
            "data": [
                {"name": name, "period": "day", "title": name, "description": "", "total_value": {"value": self.account_insights[name]},
                 "id": f"{IG_USER_ID}/insights/{name}/day"}
                for name in params["metric"].split(",")
                if name in self.account_insights
            ]
        }

    def _profile(self, path, params):
        return {"id": IG_USER_ID, "username": "aliceco", "followers_count": self.followers_count, "media_count": len(self.media)}


@pytest.fixture(autouse=True)
def instagram_settings(settings):
    settings.INSTAGRAM_GRAPH_URL = GRAPH_URL
    settings.META_APP_ID = "1234567890"
    settings.META_APP_SECRET = "app-secret-not-for-logs"
    settings.INSTAGRAM_POLL_DELAYS = (0, 0)
    settings.OUTBOUND_HTTP = {**settings.OUTBOUND_HTTP, "retries": 1, "backoff": 0.001}


@pytest.fixture
def graph():
    fake = FakeGraph()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST"):
            mock.add_callback(method, re.compile(re.escape(GRAPH_URL) + r"/.*"), callback=fake)
        yield fake


@pytest.fixture
def account(alice_workspace):
    return InstagramAccount.objects.create(
        workspace=alice_workspace,
        ig_user_id=IG_USER_ID,
        username="aliceco",
        page_id="1000001",
        page_name="Alice Co Page",
        access_token=LONG_TOKEN,
        token_expires_at=timezone.now() + timedelta(days=50),
    )


@pytest.fixture
def campaign(alice_workspace, account):
    campaign = CampaignFactory(workspace=alice_workspace, targets=[account])
    add_image(campaign)
    return campaign
