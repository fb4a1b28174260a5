"""Demo jobs for `make run`: what the original stock-analysis platform scheduled, offline and deterministic enough.

Nothing here touches the network: quotes are generated from a seeded random walk.
"""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import time
from typing import Any

from jobdeck import JobContext, update_job_progress

log = logging.getLogger("demo_jobs")

SYMBOLS = [f"{code:06d}.{'SH' if code >= 600000 else 'SZ'}" for code in (600000, 600036, 600519, 601318, 601398)] + [
    f"{code:06d}.SZ" for code in range(1, 26)
]


def _quote(symbol: str, seed: int) -> float:
    rng = random.Random(f"{symbol}:{seed}")
    return round(10 + rng.random() * 90, 2)


async def sync_quotes(ctx: JobContext, batch: int = 100, delay: float = 0.3, force: bool = False) -> dict[str, Any]:
    """Market-data sync: walks every symbol with progress; stops at the next symbol when cancelled.

    ``force`` re-syncs symbols even when today's quote is already stored (here: it also skips the market-hours check).
    """
    symbols = SYMBOLS[:batch]
    synced: dict[str, float] = {}
    for index, symbol in enumerate(symbols):
        # Raises JobCancelled when an operator cancelled the run: the record ends `cancelled`.
        await ctx.progress(
            processed_items=index, total_items=len(symbols), current_item=symbol, message=f"syncing {symbol}"
        )
        await asyncio.sleep(delay)
        synced[symbol] = _quote(symbol, int(time.time()) // 300)
    await ctx.progress(processed_items=len(symbols), total_items=len(symbols), message="done")
    return {"synced": len(synced), "force": force}


def analysis_report(days: int = 60, delay: float = 0.05) -> dict[str, Any]:
    """Daily analysis: a synchronous job (runs in a thread) using the original's update_job_progress()."""
    summary = {}
    for index, symbol in enumerate(SYMBOLS):
        update_job_progress(processed_items=index, total_items=len(SYMBOLS), message=f"analysing {symbol}")
        prices = [_quote(symbol, day) for day in range(days)]
        summary[symbol] = {"mean": round(statistics.fmean(prices), 2), "stdev": round(statistics.pstdev(prices), 2)}
        time.sleep(delay)
    best = max(summary, key=lambda s: summary[s]["mean"])
    return {"symbols": len(summary), "best": best, "best_mean": summary[best]["mean"]}


async def status_check() -> dict[str, Any]:
    """Hourly health probe of the (simulated) data sources."""
    await asyncio.sleep(0.1)
    return {"tushare": "ok", "akshare": "ok", "baostock": "ok"}


def flaky_import(failure_rate: float = 0.3) -> str:
    """A job that fails now and then, like a real upstream would."""
    if random.random() < failure_rate:
        raise ConnectionError("upstream closed the connection (simulated)")
    return "imported 42 rows"
