"""Publishing a run's step to an Instagram account: containers, status polls, the publish, the first comment.

The campaign engine calls ``execution_publish`` through ``destination.py``; every step of the way is
saved on the step, so a rerun resumes and never publishes twice.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from campaigns.destinations import RetryLater, StepFailed, StepOutcome
from campaigns.executions import step_record_result, step_save_state
from campaigns.models import CampaignExecution, ErrorCategory, ExecutionStep, PostFormat
from campaigns.selectors import publishable_images
from integrations.http import ProviderError, plain_message
from marketing.compiled import insert_row, rows, update_row, update_rows

from . import client, selectors
from .models import AccountStatus, AttemptStatus, InstagramAccount, PublishAttempt
from .services import QUOTA_FIELDS, account_mark_needs_reconnect, account_quota_read, next_publish_slot

logger = logging.getLogger(__name__)

# A container still processing after this long fails the run.
CONTAINER_PROCESSING_LIMIT = timedelta(minutes=10)
STILL_PROCESSING_COUNTDOWN = 60.0
MAX_COUNTDOWN = 3600.0


def _sleep(seconds: float) -> None:
    """Waits between status checks; a seam for tests (INSTAGRAM_POLL_DELAYS = () keeps them instant)."""
    if seconds > 0:
        time.sleep(seconds)


def _countdown(execution: CampaignExecution, error: ProviderError | None, base: float) -> float:
    """Exponential backoff over the run's attempts, or what Meta (or the open circuit) asked for."""
    backoff = min(base * 2 ** max(0, execution.attempts - 1), MAX_COUNTDOWN)
    asked = getattr(error, "retry_after", None) or 0.0
    return max(backoff, min(asked, MAX_COUNTDOWN))


class _Publisher:
    """Publishes one run to Instagram, resuming from what ``step.state`` says was already done.

    state keys: ``children`` (carousel item container ids), ``container_id``, ``container_created_at``,
    ``publish_requested_at``, ``comment_id``, ``comment_error``.
    """

    def __init__(self, *, execution: CampaignExecution, step: ExecutionStep, caption: str, account: InstagramAccount):
        self.execution = execution
        self.step = step
        self.caption = caption
        self.account = account
        self.campaign = execution.campaign
        self.is_story = self.campaign.format == PostFormat.STORY
        # Written when its status changes (published, failed, retrying), with what it created:
        # the step's state already keeps every id a rerun needs, at once.
        self._unsaved: set[str] = set()
        # The quota just read, written with the step's next write (or when the step stops).
        self._quota_unsaved = False
        self.attempt = PublishAttempt(
            workspace_id=execution.workspace_id,
            execution=execution,
            account=account,
            container_id=step.state.get("container_id", ""),
            children_ids=step.state.get("children", []),
        )

    # The flow ---------------------------------------------------------------------------------

    def run(self) -> StepOutcome:
        try:
            outcome = self._run()
        except StepFailed as failure:
            self._save_quota()
            self._attempt(status=AttemptStatus.FAILED, error_message=failure.message)
            raise
        except RetryLater as retry:
            self._save_quota()
            self._attempt(status=AttemptStatus.RETRYING, error_message=retry.message)
            raise
        if self.attempt.status == AttemptStatus.STARTED:
            # A rerun that only finished the comment: the post was published by an earlier attempt.
            self._attempt(status=AttemptStatus.PUBLISHED, media_id=self.step.external_id)
        return outcome

    def _run(self) -> StepOutcome:
        if self.step.external_id:
            return self._after_publish(self.step.external_id)
        self._require_connected()
        container_id = self.step.state.get("container_id")
        made_now = not container_id
        if made_now:
            self._check_quota()
            container_id = self._create_containers()
        status = self._await_finished([container_id])
        if status == client.PUBLISHED:
            # A publish whose answer was lost (timeout, dead worker): find the post, never publish again.
            media_id = self._find_published_media()
            if media_id is None:
                self._attempt(status=AttemptStatus.PUBLISHED, published_at=timezone.now())
                return StepOutcome(
                    detail=f"Instagram reports container {container_id} as published, but the post was not found "
                    f"among @{self.account.username}'s recent posts; it was not published again."
                )
        else:
            if not made_now:
                # Bounds the search for a post whose publish answer gets lost. A container made in
                # this pass is published seconds after container_created_at, which bounds it as
                # well (the search allows five minutes), so that write is saved.
                step_save_state(self.step, publish_requested_at=timezone.now().isoformat())
            media_id = self._graph(
                lambda: client.publish(
                    ig_user_id=self.account.ig_user_id, token=self.account.access_token, creation_id=container_id
                ),
                retry_base=30.0,
            )
        self._save_media(media_id)
        return self._after_publish(media_id)

    def _require_connected(self) -> None:
        if self.account.status != AccountStatus.CONNECTED or not self.account.access_token:
            reason = f" ({self.account.last_error})" if self.account.last_error else ""
            state = "was disconnected" if self.account.status == AccountStatus.DISCONNECTED else "needs reconnecting"
            raise StepFailed(
                f"The Instagram account @{self.account.username} {state}{reason}. "
                "Reconnect it on the Instagram accounts page, then run the campaign again.",
                category=ErrorCategory.AUTH,
            )

    def _check_quota(self) -> None:
        quota = self._graph(lambda: account_quota_read(account=self.account), retry_base=60.0)
        self._quota_unsaved = True
        if quota.total and quota.usage >= quota.total:
            raise StepFailed(self._quota_message(quota.usage, quota.total), category=ErrorCategory.QUOTA)

    def _quota_message(self, usage: int | None = None, total: int | None = None) -> str:
        slot = next_publish_slot(account=self.account)
        if slot is None:
            when = "within 24 hours"
        else:
            zone = ZoneInfo(self.execution.workspace.timezone)
            when = f"at {timezone.localtime(slot, zone):%Y-%m-%d %H:%M %Z}"
        used = f" ({usage} of {total} posts in the last 24 hours)" if total else ""
        return f"Instagram publishing quota reached for @{self.account.username}{used}, next slot {when}."

    def _images(self) -> list[tuple[str, str]]:
        """Each image to publish as (public URL, alt text), in carousel order."""
        images = [(image.public_url, image.alt_text) for image in publishable_images(campaign=self.campaign)]
        if not images:
            raise StepFailed("The campaign has no image to publish.", category=ErrorCategory.VALIDATION)
        return images

    def _create_containers(self) -> str:
        images = self._images()
        ig_user_id, token = self.account.ig_user_id, self.account.access_token
        if self.is_story:
            url, _ = images[0]  # a story holds one image (services._check_format)
            container_id = self._graph(
                lambda: client.create_story_container(ig_user_id=ig_user_id, token=token, image_url=url), retry_base=30.0
            )
        elif len(images) == 1:
            [(url, alt_text)] = images
            container_id = self._graph(
                lambda: client.create_image_container(
                    ig_user_id=ig_user_id, token=token, image_url=url, caption=self.caption, alt_text=alt_text
                ),
                retry_base=30.0,
            )
        else:
            children = list(self.step.state.get("children", []))
            for url, alt_text in images[len(children) :]:
                child = self._graph(
                    lambda url=url, alt_text=alt_text: client.create_carousel_item(
                        ig_user_id=ig_user_id, token=token, image_url=url, alt_text=alt_text
                    ),
                    retry_base=30.0,
                )
                children.append(child)
                step_save_state(self.step, children=children, with_rows=self._quota_rows())
                self._attempt(children_ids=children)
            self._await_finished(children)
            container_id = self._graph(
                lambda: client.create_carousel(ig_user_id=ig_user_id, token=token, children=children, caption=self.caption),
                retry_base=30.0,
            )
        step_save_state(
            self.step, container_id=container_id, container_created_at=timezone.now().isoformat(), with_rows=self._quota_rows()
        )
        self._attempt(container_id=container_id)
        return container_id

    def _await_finished(self, container_ids: list[str]) -> str:
        """Polls until every container is FINISHED (or PUBLISHED); a few short waits, then RetryLater."""
        pending = list(container_ids)
        delays = tuple(settings.INSTAGRAM_POLL_DELAYS)
        published = False
        for round_ in range(len(delays) + 1):
            still = []
            for container_id in pending:
                status = self._graph(
                    lambda container_id=container_id: client.container_status(
                        container_id=container_id, token=self.account.access_token
                    ),
                    retry_base=30.0,
                )
                if status.code == client.ERROR:
                    raise StepFailed(status.error_message, category=ErrorCategory.PROVIDER)
                if status.code == client.EXPIRED:
                    raise StepFailed(
                        "The Instagram container expired before it was published (containers last 24 hours). "
                        "Run the campaign again.",
                        category=ErrorCategory.PROVIDER,
                    )
                if status.code == client.PUBLISHED:
                    published = True
                elif status.code != client.FINISHED:
                    still.append(container_id)
            pending = still
            if not pending:
                return client.PUBLISHED if published else client.FINISHED
            if round_ < len(delays):
                _sleep(delays[round_])
        started = _parse_iso(self.step.state.get("container_created_at")) or timezone.now()
        if timezone.now() - started > CONTAINER_PROCESSING_LIMIT:
            minutes = int(CONTAINER_PROCESSING_LIMIT.total_seconds() // 60)
            raise StepFailed(
                f"Instagram was still processing the media after {minutes} minutes; giving up.",
                category=ErrorCategory.TIMEOUT,
            )
        raise RetryLater("Instagram is still processing the media.", countdown=STILL_PROCESSING_COUNTDOWN)

    def _find_published_media(self) -> str | None:
        """The post a lost publish made: our caption, published after we asked, not claimed by another run."""
        asked = _parse_iso(self.step.state.get("publish_requested_at") or self.step.state.get("container_created_at"))
        not_before = (asked or timezone.now() - timedelta(days=1)) - timedelta(minutes=5)
        media = self._graph(
            lambda: client.recent_media(
                ig_user_id=self.account.ig_user_id, token=self.account.access_token, stories=self.is_story
            ),
            retry_base=30.0,
        )
        claimed = set(
            selectors.publish_steps(workspace_id=self.execution.workspace_id)
            .exclude(pk=self.step.pk)
            .exclude(external_id="")
            .values_list("external_id", flat=True)
        )
        matches = [
            item
            for item in media
            if item.id not in claimed
            # A story has no caption: the time alone tells it, the oldest unclaimed one being this run's.
            and (self.is_story or _same_text(item.caption, self.caption))
            and (item.timestamp is None or item.timestamp >= not_before)
        ]
        if not matches:
            return None
        # Oldest first: with the same caption twice, the earlier post is the one this run made.
        matches.sort(key=lambda item: item.timestamp or timezone.now())
        return matches[0].id

    def _save_media(self, media_id: str) -> None:
        """Records the post on the step, and the attempt as published, at once, before anything
        else can fail: one transaction, on PostgreSQL one round trip. Should the attempt's write
        fail, the step's goes with it and a rerun finds the post from the container's status."""
        new, updates = self._attempt_change(status=AttemptStatus.PUBLISHED, media_id=media_id, published_at=timezone.now())
        step_record_result(self.step, external_id=media_id, outputs={"instagram_media_id": media_id}, with_rows=updates, with_new=new)

    def _after_publish(self, media_id: str) -> StepOutcome:
        """The permalink and the first comment: the post is live, so failures here only add a note.

        Both go back in the outcome, which the engine records with the step's finish as soon as
        this returns: a pass that stops between the two calls only asks for the permalink again,
        which changes nothing on Instagram.
        """
        notes = []
        link = ""
        if not self.step.external_url and self.account.access_token:
            try:
                link = client.permalink(media_id=media_id, token=self.account.access_token)
            except client.TokenInvalid as error:
                account_mark_needs_reconnect(account=self.account, reason=error.message)
            except ProviderError as error:
                logger.warning("instagram permalink lookup failed", extra={"media_id": media_id, "error": error.message})
        comment = "" if self.is_story else self.campaign.first_comment.strip()  # a story takes no comments
        state: dict[str, str] = {}
        if comment and not self.step.state.get("comment_id"):
            note, state = self._post_comment(media_id, comment)
            notes.append(note)
        elif comment:
            notes.append("First comment posted.")
        where = link or self.step.external_url or f"media {media_id}"
        return StepOutcome(
            detail=" ".join([f"Published to @{self.account.username}: {where}.", *notes]).strip(),
            external_url=link,
            outputs={"instagram_permalink": link} if link else None,
            state=state,
        )

    def _post_comment(self, media_id: str, comment: str) -> tuple[str, dict[str, str]]:
        """Posts the first comment: the note for the step's detail, and what the step must keep."""
        if not self.account.can_publish or not self.account.access_token:
            return "The first comment was not posted: the account needs reconnecting.", {}
        try:
            comment_id = client.post_comment(media_id=media_id, token=self.account.access_token, message=comment)
        except client.TokenInvalid as error:
            account_mark_needs_reconnect(account=self.account, reason=error.message)
            return f"The first comment was not posted: {error.message}", {}
        except ProviderError as error:
            if error.retryable:
                raise RetryLater(f"The first comment failed for now: {error.message}", countdown=_countdown(self.execution, error, 30.0))
            return f"The first comment was not posted: {error.message}", {"comment_error": error.message}
        return "First comment posted.", {"comment_id": comment_id}

    # Errors and bookkeeping -------------------------------------------------------------------

    def _graph(self, call, *, retry_base: float):
        """Runs one Graph call, turning its errors into the engine's StepFailed and RetryLater."""
        try:
            return call()
        except client.TokenInvalid as error:
            self._attempt(error=error)
            account_mark_needs_reconnect(account=self.account, reason=error.message)
            raise StepFailed(
                f"@{self.account.username} needs reconnecting: {error.message}", category=ErrorCategory.AUTH
            ) from None
        except client.QuotaReached as error:
            self._attempt(error=error)
            raise StepFailed(self._quota_message(), category=ErrorCategory.QUOTA) from None
        except ProviderError as error:
            self._attempt(error=error)
            message = plain_message(error, "Instagram")
            if error.retryable:
                base = 120.0 if isinstance(error, client.RateLimited) else retry_base
                raise RetryLater(message, countdown=_countdown(self.execution, error, base)) from None
            raise StepFailed(message, category=ErrorCategory.PROVIDER) from None

    def _quota_rows(self) -> tuple:
        """The account's quota as last read, for a write of the step's, if not written yet."""
        if not self._quota_unsaved:
            return ()
        self._quota_unsaved = False
        return ((InstagramAccount, self.account.pk, {name: getattr(self.account, name) for name in QUOTA_FIELDS}),)

    def _save_quota(self) -> None:
        for model, pk, fields in self._quota_rows():
            update_row(model, pk, fields)

    def _attempt(self, *, error: ProviderError | None = None, **fields) -> None:
        new, updates = self._attempt_change(error=error, **fields)
        if new is not None:
            insert_row(new)
        update_rows(list(updates))

    def _attempt_change(
        self, *, error: ProviderError | None = None, **fields
    ) -> tuple[PublishAttempt | None, tuple[tuple[type, int, dict], ...]]:
        """Sets the fields on the attempt. When its status changes, what writing it takes: the
        attempt to insert (its first write), or its row's update."""
        if error is not None:
            fields.update(
                error_code=getattr(error, "code", None),
                error_subcode=getattr(error, "subcode", None),
                error_message=error.message[:2000],
            )
        if "error_message" in fields:
            fields["error_message"] = fields["error_message"][:2000]
        for name, value in fields.items():
            setattr(self.attempt, name, value)
        self._unsaved.update(fields)
        if "status" not in fields:
            return None, ()
        unsaved, self._unsaved = self._unsaved, set()
        if self.attempt.pk is None:
            return self.attempt, ()
        changed = {name: getattr(self.attempt, name) for name in unsaved}
        return None, ((PublishAttempt, self.attempt.pk, {**changed, "updated_at": timezone.now()}),)


def execution_publish(*, execution: CampaignExecution, step: ExecutionStep, caption: str) -> StepOutcome:
    """The publish step of a run to one of its Instagram targets (see destination.py)."""
    # Read with its SQL written out (marketing.compiled): the ORM took more CPU to build it than to run it.
    account = next(iter(rows(InstagramAccount, {"pk": step.object_id, "workspace": execution.workspace_id})), None)
    if account is None:
        raise StepFailed(
            "The campaign's Instagram account is not one of this workspace's accounts.", category=ErrorCategory.VALIDATION
        )
    return _Publisher(execution=execution, step=step, caption=caption, account=account).run()


def _same_text(a: str, b: str) -> bool:
    """Captions compared as Instagram may return them: whitespace runs and line endings normalised."""
    return " ".join(a.split()) == " ".join(b.split())


def _parse_iso(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
