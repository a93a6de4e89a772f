"""ORM table of the transactional outbox (DB layer): broker messages committed with the rows they concern."""

from __future__ import annotations
