"""Where outbox messages go: the log (default: nothing leaves the box) or Twilio's Messages API."""

from __future__ import annotations

import base64
import logging
from typing import Protocol

import aiohttp

from ari_app.privacy import mask_card_numbers
from ari_app.workers.errors import ProviderError
from models.hotel import Message

log = logging.getLogger(__name__)


class MessageProvider(Protocol):
    """Sends one message; returns the provider's id for it or raises :class:`ProviderError`."""

    name: str

    async def send(self, message: Message) -> str: ...

    async def close(self) -> None: ...


class LogProvider:
    """Writes the message to the log instead of sending it: the safe default for a new install."""

    name = "log"

    async def send(self, message: Message) -> str:
        log.info(
            "outbox %s to %s (not sent: provider is 'log'): %s",
            message.channel,
            _mask_address(message.to),
            mask_card_numbers(message.body),
        )
        return f"log-{message.id}"

    async def close(self) -> None:
        return None


def _mask_address(to: str) -> str:
    return to[:-4].translate(str.maketrans("0123456789", "**********")) + to[-4:] if len(to) > 4 else to


class TwilioProvider:
    """SMS through Twilio's Programmable Messaging REST API (``POST …/Messages.json``).

    The provider owns one aiohttp session for its lifetime; :meth:`close` releases it.
    """

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = "https://api.twilio.com",
        timeout_s: float = 15.0,
    ) -> None:
        if not account_sid or not auth_token or not from_number:
            raise ProviderError(
                "Twilio needs sms.twilio_account_sid, sms.twilio_auth_token and sms.from_number",
                retryable=False,
            )
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        token = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        self._from = from_number
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: Message) -> str:
        if message.channel != "sms":
            raise ProviderError(f"Twilio SMS can't deliver a {message.channel!r} message", retryable=False)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        form = {"To": message.to, "Body": message.body}
        # A Messaging Service SID (MG…) lets Twilio pick the sender from the service's pool.
        form["MessagingServiceSid" if self._from.startswith("MG") else "From"] = self._from
        try:
            async with self._session.post(self._url, data=form, headers=self._headers) as resp:
                status = resp.status
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(f"Twilio unreachable: {type(exc).__name__}", retryable=True) from exc
        if not isinstance(body, dict):
            body = {}
        if status in (200, 201) and body.get("sid"):
            return str(body["sid"])
        code = body.get("code")
        detail = str(body.get("message") or f"HTTP {status}")
        retryable = status == 429 or status >= 500 or status in (200, 201)
        raise ProviderError(
            f"Twilio HTTP {status}" + (f" error {code}" if code else "") + f": {detail}",
            retryable=retryable,
            code=int(code) if isinstance(code, int) else None,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
