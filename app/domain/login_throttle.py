"""Login throttling rule (pure layer): how long failed password logins lock an account or an address."""

from __future__ import annotations

from dataclasses import dataclass

# 2**60 seconds is far past any cap; the bound keeps the float arithmetic from overflowing.
_MAX_EXPONENT = 60


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """Thresholds of the password-login throttle (``UNILABEL_LOGIN_THROTTLE_*``).

    Attributes:
        free_failures: failures of one account name allowed before lockouts start.
        client_free_failures: failures from one client address (over all names) before lockouts start.
        base_delay_s: the first lockout; each further failure doubles it.
        max_delay_s: the longest lockout.
        window_s: a count is forgotten after this long without a failure.
    """

    free_failures: int = 5
    client_free_failures: int = 20
    base_delay_s: float = 1.0
    max_delay_s: float = 900.0
    window_s: float = 3600.0

    def lockout_s(self, failures: int, *, free: int) -> float:
        """Seconds to refuse logins after the ``failures``-th failure (0 while within ``free``).

        With ``free=5`` and a 1 s base: failures 1-5 give 0, the 6th 1 s, the 7th 2 s, the 8th 4 s,
        and so on up to ``max_delay_s``.
        """
        if failures <= free:
            return 0.0
        exponent = min(failures - free - 1, _MAX_EXPONENT)
        return float(min(self.base_delay_s * 2.0**exponent, self.max_delay_s))
