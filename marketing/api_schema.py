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
