"""The platform arm's ordering policy: the stores order what ``optimize_stock`` recommended.

The timing is a chain's: the daily jobs run on day D's data after D has closed (the ETL in
the morning of D + 1, then the forecast and the recommendations), so the orders a store
places on D + 1 are the recommendations of run date D, read from ``fact_replenishment`` as
a store system would read them. The chain's own policy (the baseline arm) orders on D + 1
from D + 1's closing stock: it sees a day more than the platform does.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from retail.io.warehouse import Warehouse
from retail.sim.catalog import Catalog

# the newest recommendation of each pair on the run date (a re-run, or another model
# version after a promotion, writes another row)
_RECOMMENDED = (
    "SELECT store_id, product_id, argMax(order_qty, created_at) AS qty "
    "FROM fact_replenishment FINAL WHERE run_date = {day:Date} "
    "GROUP BY store_id, product_id")


class RecommendationsMissing(ValueError):
    """The platform arm was asked for orders of a day whose recommendations were not read."""


class PlatformOrders:
    """An ``order_policy`` for :class:`retail.sim.Simulator`: the recommendations of the day
    before, loaded by :meth:`load` after the jobs of that day ran."""

    name = "platform"

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.run_date: date | None = None
        self.qty = np.zeros(catalog.n_pairs, dtype=np.int64)
        self.key = (catalog.pair_store.astype(np.int64) * catalog.n_products
                    + catalog.pair_product)

    def load(self, wh: Warehouse, run_date: date) -> int:
        """Read the recommendations of ``run_date``; the units recommended in all."""
        t = wh.query_arrow(_RECOMMENDED, {"day": run_date})
        self.qty[:] = 0
        if t.num_rows:
            store = np.array([int(s[1:]) - 1 for s in t["store_id"].to_pylist()])
            prod = np.array([int(p[1:]) - 1 for p in t["product_id"].to_pylist()])
            want = store * self.catalog.n_products + prod
            pos = np.searchsorted(self.key, want)
            ok = (pos < len(self.key)) & (self.key[np.minimum(pos, len(self.key) - 1)] == want)
            if not ok.all():
                raise ValueError(f"fact_replenishment of {run_date} recommends "
                                 f"{int((~ok).sum())} store x SKU pairs the chain does not "
                                 "stock")
            self.qty[pos] = t["qty"].to_numpy().astype(np.int64)
        self.run_date = run_date
        return int(self.qty.sum())

    def __call__(self, sim, ctx, p0: int, p1: int) -> np.ndarray:
        if self.run_date != ctx.day - timedelta(days=1):
            raise RecommendationsMissing(
                f"orders of {ctx.day} need the recommendations of {ctx.day - timedelta(days=1)}"
                f"; the last read were of {self.run_date}")
        return self.qty[p0:p1].copy()
