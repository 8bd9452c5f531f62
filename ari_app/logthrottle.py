"""One warning per outage, not one per retry.

A hotel's Asterisk can be down for an hour (maintenance, a reboot); retrying every few seconds is
right, but logging every retry buried the log in ~850 WARNING lines an hour and made alerts noisy.
So a dependency that keeps failing is logged when it first fails, when the failure changes, and then
as a reminder every few minutes; when it comes back one INFO line says how long it was gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class OutageLog:
    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        remind_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.what = what
        self.remind_s = remind_s
        self.clock = clock
        self.failures = 0
        self._since: float | None = None
        self._last_logged: float | None = None
        self._last_detail: str | None = None

    def failed(self, detail: str, *, retry_in_s: float | None = None) -> bool:
        """Note one failed attempt; True when it was logged at WARNING (else only at DEBUG)."""
        now = self.clock()
        self.failures += 1
        retry = "" if retry_in_s is None else f"; retrying in {retry_in_s:.2f} s"
        if self._since is None:
            self._since = now
        due = self._last_logged is None or now - self._last_logged >= self.remind_s
        if due or detail != self._last_detail:
            if self.failures == 1:
                self.logger.warning("%s: %s%s", self.what, detail, retry)
            else:
                self.logger.warning(
                    "%s still failing (%d attempts over %.0f s): %s%s; next reminder in %.0f min unless it changes",
                    self.what, self.failures, now - self._since, detail, retry, self.remind_s / 60,
                )
            self._last_logged = now
            self._last_detail = detail
            return True
        self.logger.debug("%s: %s%s", self.what, detail, retry)
        return False

    def recovered(self) -> None:
        """The dependency answers again: one INFO line if it had been failing."""
        if self.failures and self._since is not None:
            self.logger.info(
                "%s recovered after %d failed attempts (%.0f s)", self.what, self.failures, self.clock() - self._since
            )
        self.failures = 0
        self._since = None
        self._last_logged = None
        self._last_detail = None
