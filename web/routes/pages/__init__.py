"""The HTML pages (HTMX): sign-in, the inbox, the case workspace, customer merges."""

from fastapi import APIRouter, Depends

from web.auth import verify_csrf
from web.routes.pages import auth, cases, customers, inbox, live, notices, tasks

# Every page route checks the CSRF token on state-changing methods before its body runs.
router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
router.include_router(auth.router)
router.include_router(inbox.router)
router.include_router(cases.router)
router.include_router(tasks.router)
router.include_router(notices.router)
router.include_router(live.router)
router.include_router(customers.router)
