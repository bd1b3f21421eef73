"""/docs: Swagger UI from our own static files, under the pages' Content-Security-Policy.

FastAPI's page loads swagger-ui from a CDN and starts it with an inline script; our CSP allows
neither. So the bundle is vendored (web/static/vendor/swagger-ui, see its README) and the one
inline script is allowed by its SHA-256 hash: the page is fixed at start-up, so is the hash.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from web.ui_setup import CSP

VENDOR = "/static/vendor/swagger-ui"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_page(openapi_url: str, title: str) -> tuple[bytes, str]:
    """The page and its CSP: the pages' policy plus the hash of each inline script."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/favicon-32x32.png",
        oauth2_redirect_url=None,
        # No badge image from validator.swagger.io: it would send our spec's URL off-site.
        swagger_ui_parameters={"validatorUrl": None},
    ).body
    html = bytes(page).decode()
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    ]
    csp = CSP.replace("script-src 'self'", " ".join(["script-src 'self'", *hashes]), 1)
    return html.encode(), csp


def install(app: FastAPI) -> None:
    """Serve /docs (create the app with docs_url=None and redoc_url=None)."""
    body, csp = docs_page(app.openapi_url or "/openapi.json", f"{app.title} - API docs")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(body, headers={"Content-Security-Policy": csp})
