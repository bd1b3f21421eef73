"""The JSON API under /api/v1, one router per resource; every route needs a scoped token."""

from fastapi import APIRouter

from web.routes.api_v1 import cases, clients, config, customers, notifications, reports, surveys

router = APIRouter(prefix="/api/v1")
router.include_router(cases.router)
router.include_router(surveys.router)
router.include_router(customers.router)
router.include_router(config.router)
router.include_router(clients.router)
router.include_router(reports.router)
router.include_router(notifications.router)
