"""``GET /error``: the page a browser lands on when a redirect flow fails.

Flows that answer with a redirect (a reset or verification link that is invalid
or expired, without a ``callbackURL`` of the app's own) send the browser here
with ``?error=<CODE>``, as Better Auth does. The page names the problem in words
and links back to the app; the code comes from the query string, so it is shown
escaped and only as text.
"""

from __future__ import annotations

import html

from rowgate.auth.routes import AuthContext, AuthRequest, Html, Reply

_EXPLAINED = {
    "INVALID_TOKEN": "This link is invalid or has already been used.",
    "TOKEN_EXPIRED": "This link has expired. Ask for a new one.",
    "USER_NOT_FOUND": "No account matches this link.",
}
_DEFAULT = "Something went wrong while signing you in."


async def error_page(ctx: AuthContext, request: AuthRequest) -> Reply:
    code = str(request.query.get("error", ""))[:100]
    explained = _EXPLAINED.get(code, _DEFAULT)
    home = ctx.options.origin + "/"
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        "<title>Sign-in problem</title><style>"
        "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;"
        "padding:0 1rem;color:#1f2430}code{background:#f1f3f8;padding:0 .3em}"
        "</style></head><body><h1>Sign-in problem</h1>"
        f"<p>{html.escape(explained)}</p>"
        + (f"<p>Error code: <code>{html.escape(code)}</code></p>" if code else "")
        + f'<p><a href="{html.escape(home)}">Back to the app</a></p></body></html>'
    )
    return Reply(Html(page), status=200)
