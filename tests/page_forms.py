"""Shared by the page tests: a page's text, its CSRF token, posting a form with it, and the check
that an error is a Korean HTML page."""
import re

TOKEN = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


def page_text(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def csrf_token(client, url) -> str:
    """The form token the page at url hands this client (its session cookie holds the match)."""
    return TOKEN.search(page_text(client.get(url))).group(1)


def post_form(client, url, form):
    """Fetch the page's token, as a browser would, then post form with it."""
    return client.post(url, data={**form, "csrf_token": csrf_token(client, url)})


def assert_korean_page(response, status):
    """An HTML page with the status, a Korean alert, and no trace of a stack."""
    text = page_text(response)
    assert response.status_code == status and response.mimetype == "text/html"
    assert 'role="alert"' in text and re.search("[가-힣]", text)
    assert "Traceback" not in text and "werkzeug" not in text.lower()
