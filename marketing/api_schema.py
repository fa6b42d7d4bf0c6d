"""How the API's authentication appears in the OpenAPI document (/api/docs/)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "marketing.api_auth.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from Settings → API tokens: `Authorization: Bearer mkt_…`.",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "marketing.api_auth.SessionWorkspaceAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


# Errors any operation may answer, each as problem details (marketing.api.problem).
PROBLEM_STATUSES = {
    "400": "Invalid request: `errors` names each refused field (a form-encoded body over 2.5 MB: send JSON).",
    "401": "No valid token.",
    "403": "The token's user may not do this.",
    "404": "No such object in the token's workspace, or no such address.",
    "409": "The object's state does not allow it now (a run already in progress...).",
    "415": "The body is not JSON.",
    "422": "An Idempotency-Key reused for a different request.",
    "429": "Too many requests: wait as Retry-After says.",
}
# Answered by the web server (gunicorn) before the request reaches the app, so not problem details.
SERVER_STATUSES = {
    "414": "The request line (address and query) is longer than the server accepts (4 KB).",
}
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "Problem details (RFC 9457), the shape of every error of this API.",
    "properties": {
        "type": {"type": "string", "description": "Names the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong this time, in words."},
        "errors": {"type": "object", "additionalProperties": True, "description": "Messages by field."},
    },
    "required": ["type", "title", "status", "detail"],
    "additionalProperties": True,
}


def add_problem_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: documents the problem-details errors on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    reference = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, description in PROBLEM_STATUSES.items():
                responses.setdefault(status, {"description": description})
                responses[status].setdefault("content", {})["application/problem+json"] = {"schema": reference}
            for status, description in SERVER_STATUSES.items():
                responses.setdefault(status, {"description": description})
    return result
