"""The JSON API under /api/v1, one router per resource; every route needs a scoped token."""

from typing import Any

from fastapi import APIRouter, Depends

from web.problems import PROBLEM_JSON
from web.rate_limit import client_limit
from web.routes.api_v1 import (
    audit,
    case_links,
    cases,
    clients,
    config,
    customers,
    kb,
    notifications,
    reports,
    surveys,
    tasks,
    webhooks,
)

# Any route may meet an outage or a bug (web/errors.py): documented once for all of them.
TROUBLE: dict[int | str, dict[str, Any]] = {
    500: {"description": "A bug on our side; quote `request_id`", "content": {PROBLEM_JSON: {}}},
    503: {
        "description": "The database or Temporal is unavailable (`unavailable` names which): "
        "repeat the request after Retry-After seconds (with the same Idempotency-Key it never "
        "applies twice)",
        "content": {PROBLEM_JSON: {}},
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}},
    },
    429: {
        "description": "Over the client's rate limit: repeat after Retry-After seconds",
        "content": {PROBLEM_JSON: {}},
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}},
    },
}
# Every route needs a token: the client's rate limit is counted once it is known.
router = APIRouter(prefix="/api/v1", responses=TROUBLE, dependencies=[Depends(client_limit)])
router.include_router(cases.router)
router.include_router(tasks.router)
router.include_router(case_links.router)
router.include_router(surveys.router)
router.include_router(customers.router)
router.include_router(config.router)
router.include_router(clients.router)
router.include_router(audit.router)
router.include_router(reports.router)
router.include_router(notifications.router)
router.include_router(kb.router)
router.include_router(webhooks.router)
