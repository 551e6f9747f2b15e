"""A small client for any Open311 GeoReport v2 server (http://wiki.open311.org/GeoReport_v2/).

The assistant talks to the command centre only through this module, so a deployment can point it at its own
centre's system instead of our embedded backend. Standard library only (``urllib.request``): the Rasa
action server (CPython 3.10) and our services (3.11) both import it, and they share no HTTP library.

Requests are form-encoded, responses are read as JSON (``.json`` resources). Failures come in two kinds the
caller must tell apart:

* :class:`Open311Unavailable` – unreachable, timed out, 5xx, 408/425/429: the request may be fine, retry later;
* :class:`Open311Rejected` – any other 4xx: the request itself is bad (or the key), retrying will not help.

Our embedded server understands a few extension fields (``idempotency_key``, ``sender_id``, ``channel``,
``transcript``, ``urgent``, a ``sender_id``/``phone`` filter and a rating resource); other servers ignore
unknown form fields, as the spec's optional-argument rule lets them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from dispatch.backends.base import BackendError, BackendNotFound, BackendRejected, BackendUnavailable

JSON = "application/json"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
RETRYABLE_4XX = frozenset({408, 425, 429})  # timeouts and rate limits: the server asks us to come back
ERROR_BODY_LIMIT = 2000  # characters of an unparseable error body kept in the exception message


# The client raises the backend interface's errors under their GeoReport v2 names: one hierarchy, so the
# outbox (which only knows dispatch.backends.base) and callers of this client catch the same exceptions.
Open311Error = BackendError  # base; ``status`` is the HTTP status (None when no answer came)
Open311Unavailable = BackendUnavailable  # connection refused, timeout, 5xx, 408/425/429: try again later
Open311Rejected = BackendRejected  # any other 4xx: missing field, unknown service, bad api_key
Open311NotFound = BackendNotFound  # 404: no such service, request or token


def _clean(fields: Mapping[str, Any]) -> dict[str, str]:
    """Form fields without empty values (the spec treats empty as absent), booleans as true/false."""
    out: dict[str, str] = {}
    for key, value in fields.items():
        if value is None or value == "":
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


class Open311Client:
    """One GeoReport v2 endpoint: ``base_url`` is the part before ``/services.json``.

    ``timeout_s`` bounds each call; a call may pass its own (the in-dialogue submit uses a short one).
    """

    def __init__(self, base_url: str, api_key: str = "", jurisdiction_id: str = "", timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.jurisdiction_id = jurisdiction_id
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, conf: Mapping[str, Any] | None = None) -> Open311Client:
        """The client of ``[dispatch]``: an empty ``client_base_url`` means the embedded backend, an empty
        ``client_api_key`` means its development key in ``api_key_file``."""
        from common import settings

        conf = dict(settings.section("dispatch") if conf is None else conf)
        base_url = conf.get("client_base_url") or f"http://{conf['host']}:{conf['port']}/open311/v2"
        api_key = conf.get("client_api_key") or settings.read_or_create_secret(conf["api_key_file"])
        return cls(base_url, api_key, conf.get("jurisdiction_id", ""), float(conf["client_timeout_s"]))

    # -- the GeoReport v2 methods -------------------------------------------------------------------------------

    def services(self) -> list[dict[str, Any]]:
        """GET services: the catalogue (service_code, service_name, keywords, group, metadata, type)."""
        return self._get("services.json")

    def service_definition(self, service_code: str, timeout_s: float | None = None) -> dict[str, Any]:
        """GET services/{code}: the attribute definitions of one service."""
        return self._get(f"services/{_segment(service_code)}.json", timeout_s=timeout_s)

    def create_request(
        self,
        fields: Mapping[str, Any],
        attributes: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """POST requests: create a service request; returns the first element of the answer
        (``service_request_id`` or ``token``, ``service_notice``, ``account_id``).

        ``fields`` are the spec's form fields (service_code, lat/long or address_string or address_id,
        description, phone, …) plus extension fields. ``attributes`` become ``attribute[CODE]`` (a list value
        becomes ``attribute[CODE][]`` repeated). The idempotency key goes both as the ``Idempotency-Key``
        header and the ``idempotency_key`` field, so a server that reads either returns the original ticket
        when the same submission arrives twice.
        """
        form: list[tuple[str, str]] = list(_clean({"api_key": self.api_key, **self._jurisdiction(), **fields}).items())
        for code, value in (attributes or {}).items():
            if isinstance(value, (list, tuple)):
                form.extend((f"attribute[{code}][]", str(v)) for v in value)
            elif value not in (None, ""):
                form.append((f"attribute[{code}]", str(value)))
        headers = {}
        if idempotency_key:
            form.append(("idempotency_key", idempotency_key))
            headers["Idempotency-Key"] = idempotency_key
        answer = self._call("POST", "requests.json", form=form, headers=headers, timeout_s=timeout_s)
        return _first(answer, "requests.json")

    def get_request(self, service_request_id: str, timeout_s: float | None = None,
                    private: bool = False) -> dict[str, Any]:
        """GET requests/{id}: one service request (status, status_notes, expected_datetime, …).

        ``private`` sends the api_key: our server then adds who reported the case (``phone``,
        ``sender_id``), which the assistant needs to tell the reporter from anyone else who names the number.
        """
        params = {"api_key": self.api_key} if private else None
        answer = self._get(f"requests/{_segment(service_request_id)}.json", params=params, timeout_s=timeout_s)
        return _first(answer, "requests/{id}.json")

    def get_requests(self, timeout_s: float | None = None, **filters: Any) -> list[dict[str, Any]]:
        """GET requests with the spec's filters (service_request_id as a comma list, service_code,
        start_date, end_date, status) and, on servers that know them, ``sender_id``/``phone``.

        The contact filters reveal who reported what, so they go with the api_key (our server refuses
        them without it); plain public queries do not carry the key into access logs.
        """
        private = any(filters.get(k) for k in ("sender_id", "phone"))
        params = {**filters, "api_key": self.api_key} if private else filters
        return self._get("requests.json", params=params, timeout_s=timeout_s)

    def token(self, token: str) -> dict[str, Any]:
        """GET tokens/{token}: the service_request_id behind a batch server's token (absent until assigned)."""
        return _first(self._get(f"tokens/{_segment(token)}.json"), "tokens/{token}.json")

    def rate(self, service_request_id: str, score: int, comment: str = "") -> dict[str, Any] | list[Any]:
        """POST requests/{id}/rating (our extension): the resident's 1–5 score and comment for a closed case."""
        form = list(_clean({"api_key": self.api_key, **self._jurisdiction(), "score": score,
                            "comment": comment}).items())
        return self._call("POST", f"requests/{_segment(service_request_id)}/rating.json", form=form)

    # -- plumbing -------------------------------------------------------------------------------------------------

    def _jurisdiction(self) -> dict[str, str]:
        return {"jurisdiction_id": self.jurisdiction_id} if self.jurisdiction_id else {}

    def _get(self, path: str, params: Mapping[str, Any] | None = None, timeout_s: float | None = None) -> Any:
        query = _clean({**self._jurisdiction(), **(params or {})})
        return self._call("GET", path + ("?" + urllib.parse.urlencode(query) if query else ""), timeout_s=timeout_s)

    def _call(
        self,
        method: str,
        path: str,
        form: list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        url = f"{self.base_url}/{path}"
        data = urllib.parse.urlencode(form).encode("utf-8") if form is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"Accept": JSON, **(headers or {})})
        if data is not None:
            request.add_header("Content-Type", FORM)
        timeout = self.timeout_s if timeout_s is None else timeout_s
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise _http_error(method, path, exc) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Open311Unavailable(f"{method} {path}: {reason}") from None
        try:
            return json.loads(body.decode("utf-8")) if body.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            # A proxy's HTML page in a 200 is not an answer from an Open311 server.
            raise Open311Unavailable(f"{method} {path}: the answer is not JSON", status=200) from None


def _segment(value: str) -> str:
    """A path segment, quoted: ids come from residents' mouths and must not change the path."""
    return urllib.parse.quote(str(value), safe="")


def _first(answer: Any, what: str) -> dict[str, Any]:
    """The spec wraps single results in a one-element list; some servers do not."""
    if isinstance(answer, list) and answer and isinstance(answer[0], dict):
        return answer[0]
    if isinstance(answer, dict):
        return answer
    raise Open311Unavailable(f"{what}: unexpected answer {str(answer)[:200]!r}")


def _http_error(method: str, path: str, exc: urllib.error.HTTPError) -> Open311Error:
    """Map an HTTP error status to retry-later or bad-request, keeping the spec's error list."""
    try:
        raw = exc.read().decode("utf-8", errors="replace")
    except OSError:
        raw = ""
    errors: list[dict[str, Any]] = []
    try:
        parsed = json.loads(raw) if raw.strip() else []
        if isinstance(parsed, dict):
            parsed = parsed.get("errors") or [parsed.get("error") or parsed]
        errors = [e for e in parsed if isinstance(e, dict)] if isinstance(parsed, list) else []
    except json.JSONDecodeError:
        errors = [{"code": exc.code, "description": raw[:ERROR_BODY_LIMIT]}] if raw.strip() else []
    status = exc.code
    message = f"{method} {path}: HTTP {status}"
    if status >= 500 or status in RETRYABLE_4XX:
        return Open311Unavailable(message, status, errors)
    if status == 404:
        return Open311NotFound(message, status, errors)
    return Open311Rejected(message, status, errors)
