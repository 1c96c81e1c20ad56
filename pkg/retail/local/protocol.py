"""What ClickHouse's HTTP interface says besides results: which URL parameters are not
settings, the HTTP status of each error, content types, and who may ask."""

from __future__ import annotations

import base64
import hmac

from retail.local.errors import ClickHouseError

# URL parameters that are not settings.
PROTOCOL_PARAMS = {"query", "database", "default_format", "user", "password", "query_id",
                   "session_id", "session_timeout", "session_check", "compress", "decompress",
                   "quota_key", "buffer_size", "wait_end_of_query", "enable_http_compression",
                   "readonly", "role", "http_zlib_compression_level",
                   "client_protocol_version", "send_progress_in_http_headers",
                   "http_headers_progress_interval_ms",
                   "cancel_http_readonly_queries_on_client_close"}
# ClickHouse's exceptionCodeToHTTPStatus, by error name.
STATUS_BY_NAME = {
    **dict.fromkeys(("CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE",
                     "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME",
                     "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
                     "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE", "TOO_DEEP_AST",
                     "TOO_BIG_AST", "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR",
                     "INCORRECT_DATA", "TYPE_MISMATCH"), 400),
    **dict.fromkeys(("UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE",
                     "UNKNOWN_STORAGE", "UNKNOWN_DATABASE", "UNKNOWN_SETTING",
                     "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION",
                     "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY"), 404),
    **dict.fromkeys(("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "READONLY",
                     "ACCESS_DENIED"), 403),
    "REQUIRED_PASSWORD": 401,
    "NOT_IMPLEMENTED": 501,
    "QUERY_IS_TOO_LARGE": 413,
    "TOO_MANY_SIMULTANEOUS_QUERIES": 503,
    "NO_HANDLER": 404,  # not a ClickHouse error name: an unknown path answers 404 as it does
}
CONTENT_TYPES = {"TabSeparated": "text/tab-separated-values; charset=UTF-8",
                 "TSV": "text/tab-separated-values; charset=UTF-8",
                 "CSV": "text/csv; charset=UTF-8", "JSON": "application/json; charset=UTF-8",
                 "JSONEachRow": "application/x-ndjson; charset=UTF-8"}


def authenticate(headers: object, params: dict[str, str], server_user: str,
                 server_password: str) -> None:
    """Basic auth, ``X-ClickHouse-User``/``Key`` or ``user``/``password`` parameters against
    the one user of the local server."""
    user, password = "default", ""
    auth = headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            raise ClickHouseError(516, "Malformed Basic authorization header",
                                  "AUTHENTICATION_FAILED") from None
    user = headers.get("X-ClickHouse-User") or params.get("user") or user
    password = headers.get("X-ClickHouse-Key") or params.get("password") or password
    ok_user = hmac.compare_digest(user.encode(), server_user.encode())
    if not (ok_user and hmac.compare_digest(password.encode(), server_password.encode())):
        if ok_user and not password and server_password:
            raise ClickHouseError(194, f"{user}: Authentication failed: password is "
                                  "required", "REQUIRED_PASSWORD")
        raise ClickHouseError(516, f"{user}: Authentication failed: password is incorrect, "
                              "or there is no user with such name", "AUTHENTICATION_FAILED")


def revision(params: dict[str, str]) -> int:
    """``client_protocol_version``: the Native protocol revision the client reads."""
    try:
        return int(params.get("client_protocol_version") or 0)
    except ValueError:
        raise ClickHouseError(72, "client_protocol_version must be a number, got "
                              f"'{params['client_protocol_version']}'",
                              "CANNOT_PARSE_NUMBER") from None


def queue_wait(params: dict[str, str]) -> float | None:
    """``queue_max_wait_ms``: how long a request waits for a free query slot."""
    if not params.get("queue_max_wait_ms"):
        return None
    try:
        return max(0.0, float(params["queue_max_wait_ms"]) / 1000)
    except ValueError:
        raise ClickHouseError(72, "queue_max_wait_ms must be a number of milliseconds, got "
                              f"'{params['queue_max_wait_ms']}'", "CANNOT_PARSE_NUMBER") from None
