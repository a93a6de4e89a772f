"""ORM tables of account security (DB layer): server-side browser sessions, login throttles, audit log."""

from __future__ import annotations
