"""Security: the secret key, CSRF protection of the forms, response headers, no debug in production.

The JSON API is exempt from CSRF checks: it reads no cookies, so a forged cross-site request
could do nothing its sender cannot do directly.
"""
import os
import secrets

from flask_wtf.csrf import CSRFProtect

SECRET_KEY_ENV = "FLASK_SECRET_KEY"
# Only this app's own files: no inline script or style, no plugins, no framing by other sites.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"])
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP level 2
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}

csrf = CSRFProtect()


def init_app(app, csrf_exempt=()) -> None:
    """Secret key, no debug under gunicorn, CSRF checks (not on csrf_exempt blueprints), headers."""
    ensure_secret_key(app)
    refuse_debug_under_gunicorn(app)
    csrf.init_app(app)
    for blueprint in csrf_exempt:
        csrf.exempt(blueprint)
    app.after_request(add_security_headers)


def ensure_secret_key(app) -> None:
    """SECRET_KEY from the environment; unset, a random one for this process, and a warning."""
    key = app.config.get("SECRET_KEY")
    if key:
        app.config["SECRET_KEY"] = str(key)  # FLASK_SECRET_KEY=12345 is read as JSON: a number
        return
    app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.logger.warning(
        "%s is not set: using a random secret key for this process. Form tokens and sessions "
        "will not survive a restart, nor work across several workers; set %s to a long random "
        "string (python -c 'import secrets; print(secrets.token_hex(32))').",
        SECRET_KEY_ENV, SECRET_KEY_ENV)


def under_gunicorn() -> bool:
    """Whether this process is a gunicorn worker (gunicorn's master sets SERVER_SOFTWARE)."""
    return os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/")


def refuse_debug_under_gunicorn(app) -> None:
    """Debug mode shows internals to whoever triggers an error: never on a served app."""
    if app.debug and under_gunicorn():
        app.logger.warning("debug mode is never on under gunicorn: FLASK_DEBUG ignored")
        app.debug = False


def add_security_headers(response):
    """The security headers on every response (a view may set its own first)."""
    for header, value in HEADERS.items():
        response.headers.setdefault(header, value)
    return response
