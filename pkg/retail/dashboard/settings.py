"""Settings of the local web dashboards (``retail dashboard``). Environment:
``RETAIL_DASHBOARD__*``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class DashboardSettings(BaseModel):
    """Where the dashboards listen, how they learn who is reading, and how often they
    refresh (docs/dashboards.md).

    Identity:
      * ``local``: the reader picks a user from the warehouse's assignments table
        (``bi_user_access``) in the page header; for one machine, on loopback only.
      * ``header``: the user is the value of ``user_header``, set by an authenticating
        proxy in front of the app (oauth2-proxy's ``X-Forwarded-Email`` by default). A
        request without it is refused (401). The chart's NetworkPolicy admits only the
        proxy's pods, so nobody else can send the header.
    Either way every query is limited to the stores the user's assignments give them.
    """

    model_config = {"extra": "forbid", "frozen": True}

    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(8050, ge=1024, le=65535)
    identity: Literal["local", "header"] = "local"
    user_header: str = Field("X-Forwarded-Email", pattern=r"^[A-Za-z0-9-]+$")
    # Seconds between automatic refreshes of a page's charts (the design's 15 minutes for
    # DirectQuery pages); 0: never.
    refresh_seconds: int = Field(900, ge=0, le=86_400)
    # Seconds the server may take to answer /healthz after `retail local up --with-dashboard`.
    start_timeout_s: float = Field(60.0, gt=0)
