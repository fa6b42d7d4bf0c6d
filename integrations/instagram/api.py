"""/api/v1/instagram-accounts/: an account's best times to post, as its analytics page shows them."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketing.api import workspace_of
from marketing.models import validate_timezone
from marketing.selectors import get_for_workspace_or_404

from . import selectors
from .models import InstagramAccount


# The schema names the list of zones a schedule takes (every IANA zone: validate_timezone, which
# stays the one place that checks them) rather than repeating its 600 names.
@extend_schema_field({"$ref": "#/components/schemas/TimezoneEnum"})
class _ZoneField(serializers.CharField):
    pass


class BestTimesQuerySerializer(serializers.Serializer):
    tz = _ZoneField(
        required=False,
        validators=[validate_timezone],
        help_text="The IANA time zone to place posts in, e.g. Europe/Berlin; default: the caller's own (Account settings).",
    )


class TimeSlotSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(help_text="0 is Monday.")
    block = serializers.IntegerField(help_text="Which block of hours of the day, from 0 (00:00–03:00).")
    label = serializers.CharField(help_text="The weekday and hours, e.g. Tue 18:00–21:00.")
    hours = serializers.CharField(help_text="e.g. 18:00–21:00.")
    posts = serializers.IntegerField(help_text="Posts published then, with numbers from Instagram.")
    rate = serializers.FloatField(help_text="Their mean engagement: interactions per account reached (0.1 is 10%).")
    level = serializers.IntegerField(help_text="The page's shade, 0 to 4, against the best time with enough posts.")
    enough = serializers.BooleanField(help_text="Enough posts then to compare and suggest the time.")


class BestTimesSerializer(serializers.Serializer):
    timezone = serializers.CharField(source="zone", help_text="The zone of the weekdays and hours.")
    days = serializers.IntegerField(help_text="The window: posts of the last this many days count.")
    posts = serializers.IntegerField(help_text="Posts of the window with a reach to divide by.")
    min_posts = serializers.IntegerField(help_text="Posts needed before any time is suggested.")
    posts_needed = serializers.SerializerMethodField(help_text="How many more posts before times are suggested.")
    best = TimeSlotSerializer(many=True, help_text="The suggested times, best first; empty before enough posts.")
    cells = serializers.SerializerMethodField(help_text="Every weekday and block with posts, by weekday then block.")
    block_labels = serializers.ListField(child=serializers.CharField(), help_text="The hours of each block, by block.")

    def get_posts_needed(self, best_times: selectors.BestTimes) -> int:
        return max(0, best_times.min_posts - best_times.posts)

    @extend_schema_field(TimeSlotSerializer(many=True))
    def get_cells(self, best_times: selectors.BestTimes) -> list[dict]:
        return TimeSlotSerializer([best_times.slots[key] for key in sorted(best_times.slots)], many=True).data


def _account(request: Request, pk: int) -> InstagramAccount:
    workspace = workspace_of(request)
    return get_for_workspace_or_404(selectors.account_list(workspace=workspace), workspace=workspace, pk=pk)


class AccountBestTimesApi(APIView):
    """When the account's posts of the last 90 days drew the most engagement, by weekday and
    time of day: the "Best times to post" of its analytics page."""

    @extend_schema(parameters=[BestTimesQuerySerializer], responses={200: BestTimesSerializer})
    def get(self, request: Request, pk: int) -> Response:
        account = _account(request, pk)
        query = BestTimesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        # The page places posts in the viewer's zone, set by the middleware for a session; a
        # token's request reaches the view without it, so the zone is the caller's here too.
        with timezone.override(query.validated_data.get("tz") or request.user.timezone):
            best_times = selectors.best_times(account=account)
        return Response(BestTimesSerializer(best_times).data)
