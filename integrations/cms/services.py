"""Writes for content sources: connect, edit, test, poll, and turn each new post into an event
and/or a draft campaign. Pages, the API, the admin and the beat task all come through here.

A source's first successful poll records the posts already there as a baseline without acting on
them; every later post is acted on once: the (source, guid) unique constraint decides.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from campaigns import images
from campaigns.approval import campaign_approval_request
from campaigns.executions import execution_create
from campaigns.models import Campaign, CampaignStatus, ExecutionSource, ImageSource
from campaigns.services import campaign_create, campaign_image_add, image_generation_request
from integrations import fetch
from marketing import outbox
from marketing.models import User, Workspace
from triggers.models import Trigger
from triggers.services import Rejected, trigger_event_receive

from . import captions, feeds, wordpress
from .models import ContentItem, ContentSource, ItemStatus, PostStatus, SourceKind, SourceState

logger = logging.getLogger(__name__)

# A claimed source is not claimed again for this long, so a worker that dies mid-poll delays
# the next poll by this much and no more.
POLL_LEASE = timedelta(minutes=5)
CLAIM_BATCH = 2000
# Far beyond a real item's work (each outside call has its own timeout and retries).
STUCK_AFTER = timedelta(minutes=30)
EDITABLE_FIELDS = (
    "name", "url", "wp_username", "wp_app_password", "poll_interval", "trigger", "create_drafts",
    "publish_automatically", "template_campaign", "wp_post_status", "wp_category",
)  # fmt: skip


# Connect and edit ------------------------------------------------------------------------------


def _validate(source: ContentSource) -> None:
    errors: dict[str, str] = {}
    url = source.url.strip()
    if problem := fetch.check_url(url):
        errors["url"] = problem
    if source.trigger is not None:
        if source.trigger.workspace_id != source.workspace_id:
            errors["trigger"] = "That trigger belongs to another workspace."
        elif not source.trigger.accepts_events:
            errors["trigger"] = "Choose an event or conditional trigger: only those receive events."
    if source.template_campaign is not None and source.template_campaign.workspace_id != source.workspace_id:
        errors["template_campaign"] = "That campaign belongs to another workspace."
    if source.kind == SourceKind.WORDPRESS and bool(source.wp_username) != bool(source.wp_app_password):
        errors["wp_app_password"] = "Give both the user name and the application password, or neither."
    if source.kind == SourceKind.FEED and (source.wp_username or source.wp_app_password):
        errors["wp_username"] = "Feeds take no user name or password."
    if not source.trigger and not source.create_drafts:
        errors["create_drafts"] = "Choose what a new post does: send an event to a trigger, create a draft campaign, or both."
    if source.publish_automatically and not source.create_drafts:
        errors["publish_automatically"] = "Only a source that creates campaigns can publish them."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def source_create(
    *,
    workspace: Workspace,
    by: User | None,
    name: str,
    url: str,
    kind: str = SourceKind.FEED,
    wp_username: str = "",
    wp_app_password: str = "",
    poll_interval: int = 30,
    trigger: Trigger | None = None,
    create_drafts: bool = True,
    publish_automatically: bool = False,
    template_campaign: Campaign | None = None,
    wp_post_status: str = PostStatus.DRAFT,
    wp_category: str = "",
) -> ContentSource:
    """Connects a source and queues its first poll, which records the posts already there."""
    source = ContentSource(
        workspace=workspace,
        name=name.strip(),
        kind=kind,
        url=url.strip(),
        wp_username=wp_username.strip(),
        wp_app_password=wp_app_password.strip(),
        poll_interval=poll_interval,
        trigger=trigger,
        create_drafts=create_drafts,
        publish_automatically=publish_automatically,
        template_campaign=template_campaign,
        wp_post_status=wp_post_status,
        wp_category=wp_category.strip(),
        next_poll_at=timezone.now(),
        created_by=by,
    )
    _validate(source)
    source.full_clean()
    source.save()
    _queue_poll(source.pk)
    return source


@transaction.atomic
def source_update(*, source: ContentSource, by: User | None, **fields) -> ContentSource:
    """Changes a source; an empty application password keeps the stored one. A new address
    forgets the cached ETag and polls soon."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if fields.get("wp_app_password", None) == "":
        fields.pop("wp_app_password")
    moved = "url" in fields and fields["url"].strip() != source.url
    for name, value in fields.items():
        setattr(source, name, value.strip() if isinstance(value, str) else value)
    if not source.wp_username:
        source.wp_app_password = ""
    if moved:
        source.etag = source.last_modified = ""
        source.next_poll_at = timezone.now()
    _validate(source)
    source.full_clean()
    source.save()
    return source


def source_set_paused(*, source: ContentSource, paused: bool) -> ContentSource:
    """Pauses polling, or resumes it with a poll now."""
    if paused:
        source.state = SourceState.PAUSED
        source.next_poll_at = None
    else:
        source.state = SourceState.OK if source.last_success_at else SourceState.NEW
        source.next_poll_at = timezone.now()
        source.failures = 0
    source.save(update_fields=["state", "next_poll_at", "failures", "updated_at"])
    return source


def source_delete(*, source: ContentSource) -> None:
    """Deletes the source and its items; campaigns made from them stay."""
    source.delete()


@dataclass(frozen=True)
class Check:
    ok: bool
    message: str
    titles: tuple[str, ...] = ()


def source_test(
    *, kind: str, url: str, wp_username: str = "", wp_app_password: str = ""
) -> Check:
    """Fetches the source once, stores nothing, and says what the site answered."""
    try:
        if kind == SourceKind.WORDPRESS:
            site = wordpress.check(base_url=url, username=wp_username, password=wp_app_password)
            _, posts = wordpress.recent_posts(base_url=url, username=wp_username, password=wp_app_password)
            who = f" as {site.user}" if site.user else " (public posts only, no application password)"
            message = f"Connected to the WordPress site “{site.name or url}”{who}: {len(posts)} recent posts."
        else:
            fetched = fetch.get(url)
            feed = feeds.parse(fetched.body, url=fetched.url, content_type=fetched.content_type)
            posts = feed.posts
            message = f"“{feed.title or url}” is a feed with {len(posts)} posts."
    except (fetch.FetchError, feeds.FeedInvalid) as error:
        return Check(ok=False, message=error.message)
    return Check(ok=True, message=message, titles=tuple(post.title for post in posts[:5]))


# Polling ---------------------------------------------------------------------------------------


def _queue_poll(source_id: int) -> None:
    from .tasks import poll_source

    outbox.send_on_commit(poll_source, source_id)


def sources_claim_due(*, now: datetime | None = None, limit: int = CLAIM_BATCH) -> list[int]:
    """Ids of sources due a poll, each pushed POLL_LEASE ahead so no other beat claims it too."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            ContentSource.objects.select_for_update(skip_locked=True)
            .filter(next_poll_at__lte=now)
            .exclude(state=SourceState.PAUSED)
            .order_by("next_poll_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            ContentSource.objects.filter(pk__in=ids).update(next_poll_at=now + POLL_LEASE)
    return ids


@dataclass(frozen=True)
class PollResult:
    ok: bool
    new_items: int = 0
    not_modified: bool = False
    message: str = ""


def source_poll(*, source_id: int, now: datetime | None = None) -> PollResult | None:
    """Fetches the source once, stores the posts it has not seen, and queues their processing.

    A failure puts the source in the error state with the reason and backs off:
    the next poll waits the interval times 2^failures, up to CMS_MAX_BACKOFF_MINUTES.
    """
    source = ContentSource.objects.filter(pk=source_id).first()
    if source is None or source.state == SourceState.PAUSED:
        return None
    now = now or timezone.now()
    try:
        fetched, posts, title = _fetch_posts(source)
    except (fetch.FetchError, feeds.FeedInvalid) as error:
        return _poll_failed(source, error.message, now)
    except Exception:  # noqa: BLE001 - one broken source must not stop the beat's other polls
        logger.exception("content source poll crashed", extra={"source_id": source.pk})
        return _poll_failed(source, "Internal error while reading the source; the team has been told.", now)
    baseline = source.last_success_at is None
    created = _store(source, posts, baseline=baseline) if posts else []
    changes = {
        "state": SourceState.OK,
        "last_error": "",
        "failures": 0,
        "last_polled_at": now,
        "last_success_at": now,
        "next_poll_at": now + timedelta(minutes=source.poll_interval),
    }
    if not fetched.not_modified:
        changes.update(etag=fetched.etag, last_modified=fetched.last_modified)
        if title:
            changes["site_title"] = title[:200]
    # Filtered on the state: a pause pressed during the poll wins.
    ContentSource.objects.filter(pk=source.pk).exclude(state=SourceState.PAUSED).update(**changes)
    if created:
        from .tasks import process_item

        item_ids = [(item.pk,) for item in created]
        transaction.on_commit(lambda: outbox.send_many(process_item, item_ids))
    return PollResult(ok=True, new_items=len(created), not_modified=fetched.not_modified)


def _fetch_posts(source: ContentSource) -> tuple[fetch.Fetched, list[feeds.Post], str]:
    if source.kind == SourceKind.WORDPRESS:
        fetched, posts = wordpress.recent_posts(
            base_url=source.url,
            username=source.wp_username,
            password=source.wp_app_password,
            etag=source.etag,
            last_modified=source.last_modified,
        )
        return fetched, posts, ""
    fetched = fetch.get(source.url, etag=source.etag, last_modified=source.last_modified)
    if fetched.not_modified:
        return fetched, [], ""
    feed = feeds.parse(fetched.body, url=fetched.url, content_type=fetched.content_type)
    return fetched, feed.posts, feed.title


def _poll_failed(source: ContentSource, message: str, now: datetime) -> PollResult:
    failures = source.failures + 1
    wait = min(source.poll_interval * 2**min(failures, 16), settings.CMS_MAX_BACKOFF_MINUTES)
    ContentSource.objects.filter(pk=source.pk).exclude(state=SourceState.PAUSED).update(
        state=SourceState.ERROR,
        last_error=message[:2000],
        failures=F("failures") + 1,
        last_polled_at=now,
        next_poll_at=now + timedelta(minutes=wait),
    )
    logger.info("content source poll failed", extra={"source_id": source.pk, "failures": failures})
    return PollResult(ok=False, message=message)


def _store(source: ContentSource, posts: list[feeds.Post], *, baseline: bool) -> list[ContentItem]:
    """Inserts the posts not stored yet, oldest first; returns the ones to act on."""
    known = set(source.items.filter(guid__in=[post.guid for post in posts]).values_list("guid", flat=True))
    created: list[ContentItem] = []
    for post in reversed(posts):
        if post.guid in known:
            continue
        known.add(post.guid)
        item = ContentItem(
            workspace_id=source.workspace_id,
            source=source,
            guid=post.guid,
            title=post.title,
            link=post.link,
            excerpt=post.excerpt,
            author=post.author,
            categories=post.categories,
            tags=post.tags,
            image_url=post.image_url,
            published_at=post.published_at,
            status=ItemStatus.BASELINE if baseline else ItemStatus.NEW,
            note="Already in the source when it was connected; not acted on." if baseline else "",
        )
        try:
            with transaction.atomic():
                item.save(force_insert=True)
        except IntegrityError:
            continue  # another poll of the same source stored it first
        if not baseline:
            created.append(item)
    return created


# Acting on a new post --------------------------------------------------------------------------


def item_process(*, item_id: int) -> ContentItem | None:
    """Sends the post's event to the source's trigger and/or makes its campaign, once."""
    claimed = ContentItem.objects.filter(pk=item_id, status=ItemStatus.NEW).update(
        status=ItemStatus.PROCESSING, processing_since=timezone.now()
    )
    if not claimed:
        return ContentItem.objects.filter(pk=item_id).first()
    item = ContentItem.objects.select_related("source", "source__trigger", "source__template_campaign").get(pk=item_id)
    source = item.source
    notes: list[str] = []
    failed = False
    if source.trigger is not None:
        try:
            event = trigger_event_receive(trigger=source.trigger, payload=item.event_payload())
        except Rejected as refusal:
            notes.append(f"The trigger refused the event: {refusal.message}")
            failed = True
        else:
            item.event_uuid = event.uuid
            notes.append(f"Sent to the trigger “{source.trigger.name}” ({'fired' if event.fired else 'did not fire'}).")
    if source.create_drafts:
        try:
            item.campaign = _campaign_from(item)
        except ValidationError as error:
            notes.append(f"No campaign: {' '.join(error.messages)}")
            failed = True
        except Exception:  # noqa: BLE001 - the item must not stay "working on it" for ever
            logger.exception("content item processing crashed", extra={"item_id": item.pk})
            notes.append("No campaign: internal error; retry it from the source's page.")
            failed = True
        else:
            notes.append(item.note)
    item.status = ItemStatus.FAILED if failed else ItemStatus.DONE
    item.note = " ".join(note for note in notes if note)[:2000]
    item.save(update_fields=["status", "event_uuid", "campaign", "note"])
    return item


def _campaign_from(item: ContentItem) -> Campaign:
    """The post's campaign: drafted caption, featured image or an AI one; run at once if the source says so."""
    source = item.source
    model = source.template_campaign
    draft = captions.draft(
        item,
        extra_hashtags=model.hashtags if model else "",
        first_comment=model.first_comment if model else "",
    )
    notes = [f"Caption drafted by {'OpenAI' if draft.drafted_by == 'openai' else 'the template'}."]
    if draft.note:
        notes.append(draft.note)
    prepared, image_note = _featured_image(item)
    if image_note:
        notes.append(image_note)
    with transaction.atomic():
        campaign = campaign_create(
            workspace=item.source.workspace,
            by=None,
            name=item.title[:200],
            brief=f"{item.title}. {item.excerpt}"[:2000],
            caption=draft.caption,
            hashtags=draft.hashtags,
            first_comment=draft.first_comment,
            targets=[target.key for target in model.targets.all()] if model else (),
        )
        if prepared is not None:
            campaign_image_add(campaign=campaign, prepared=prepared, source=ImageSource.UPLOAD)
        if source.publish_automatically and campaign.workspace.require_approval:
            # Nothing publishes unapproved: the approvers are asked instead (an AI image comes with the run).
            campaign_approval_request(campaign=campaign, by=None)
            notes.append("Not published automatically: this workspace requires approval, which was asked for.")
        elif source.publish_automatically:
            # Without an image the run's first step generates one.
            execution_create(campaign=campaign, source=ExecutionSource.TRIGGER)
            notes.append("Published automatically.")
        elif prepared is None:
            image_generation_request(campaign=campaign, by=None)
            notes.append("An AI image was requested.")
    item.note = " ".join(notes)
    return campaign


def _featured_image(item: ContentItem) -> tuple[images.PreparedImage | None, str]:
    """The post's featured image made Instagram-ready, or None and why not."""
    if not item.image_url:
        return None, "The post has no featured image."
    try:
        fetched = fetch.get(item.image_url, limit=images.MAX_UPLOAD_BYTES)
        return images.prepare_upload(io.BytesIO(fetched.body), fit="crop"), "Featured image imported."
    except fetch.FetchError as error:
        return None, f"The featured image could not be downloaded: {error.message}"
    except ValidationError as error:
        return None, f"The featured image could not be used: {' '.join(error.messages)}"


def items_retry(*, source: ContentSource) -> int:
    """Puts the source's failed items back in the queue."""
    ids = list(source.items.filter(status=ItemStatus.FAILED).values_list("pk", flat=True))
    ContentItem.objects.filter(pk__in=ids).update(status=ItemStatus.NEW)
    from .tasks import process_item

    transaction.on_commit(lambda: outbox.send_many(process_item, [(item_id,) for item_id in ids]))
    return len(ids)


def items_recover_stuck(*, now: datetime | None = None) -> int:
    """Fails items whose worker died while working on them, so none says "working on it" for ever.

    They are not run again on their own: the event may have reached the trigger, or the draft been
    made, before the worker died; a person retries them from the source's page."""
    cutoff = (now or timezone.now()) - STUCK_AFTER
    return ContentItem.objects.filter(status=ItemStatus.PROCESSING, processing_since__lt=cutoff).update(
        status=ItemStatus.FAILED,
        note="The worker stopped while working on this post; retry it from the source's page.",
    )
