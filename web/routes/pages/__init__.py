"""The HTML pages (HTMX): sign-in, the inbox, the case workspace, customer merges."""

from fastapi import APIRouter, Depends

from web.auth import verify_csrf
from web.routes.pages import (
    account,
    admin_clients,
    admin_programs,
    admin_units,
    auth,
    case_links,
    cases,
    customers,
    inbox,
    kb,
    live,
    notices,
    oidc,
    tasks,
)

# Every page route checks the CSRF token on state-changing methods before its body runs.
router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
router.include_router(auth.router)
router.include_router(account.router)
router.include_router(oidc.router)
router.include_router(admin_clients.router)
router.include_router(inbox.router)
router.include_router(cases.router)
router.include_router(tasks.router)
router.include_router(notices.router)
router.include_router(live.router)
router.include_router(customers.router)
router.include_router(admin_programs.router)
router.include_router(admin_units.router)
router.include_router(kb.router)
router.include_router(case_links.router)
