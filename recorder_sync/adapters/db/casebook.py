"""The case book: actions, the checkout ledger, links, the deadline sweep's inputs and
flags, and the report tallies, on the catalog's database.

Each job is its own store (one module each, one protocol each in ``domain.ports``);
``CaseBook`` is all of them on one catalog, for the composition root.  They share the
catalog's engine and custody chain: every change (an action added or changed by an
import, a ledger line, a link or unlink, a flag raised, updated or resolved) is a
custody event written in the same transaction as the change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder_sync.adapters.db.cases_repo import ActionRepo
from recorder_sync.adapters.db.ledger_repo import LedgerRepo
from recorder_sync.adapters.db.links_repo import LinkRepo
from recorder_sync.adapters.db.report_tallies import ReportTallies
from recorder_sync.adapters.db.sweep_repo import SweepRepo

if TYPE_CHECKING:
    from recorder_sync.adapters.db.repository import SqlCatalog
    from recorder_sync.domain.ports import (
        ActionStore,
        CaseRepository,
        CheckoutLedger,
        LinkFeed,
        LinkStore,
        ReportSource,
        SweepStore,
    )


class CaseBook(ActionRepo, LedgerRepo, LinkRepo, SweepRepo, ReportTallies):
    """Implements ``CaseRepository`` (every case-store protocol)."""


if TYPE_CHECKING:  # mypy checks that each store implements its protocol on its own

    def _implements(
        c: SqlCatalog,
    ) -> tuple[ActionStore, CheckoutLedger, LinkStore, LinkFeed, SweepStore, ReportSource, CaseRepository]:
        return (
            ActionRepo(c),
            LedgerRepo(c),
            LinkRepo(c),
            LinkRepo(c),
            SweepRepo(c),
            ReportTallies(c),
            CaseBook(c),
        )
