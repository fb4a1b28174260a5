"""jobdeck embedded in a FastAPI app: `uvicorn examples.embed_app:app` (or see tests/e2e/test_embedding.py)."""

from __future__ import annotations

from fastapi import FastAPI

from jobdeck import JobContext, JobDeck

deck = JobDeck.from_env()


@deck.job("daily_report", schedule="18:00", display_name="Daily report", description="Rows loaded today")
async def daily_report(ctx: JobContext, force: bool = False) -> dict[str, object]:
    items = [f"row-{n}" for n in range(20)]
    for index, item in enumerate(items):
        await ctx.progress(processed_items=index, total_items=len(items), message=item)
    return {"rows": len(items), "force": force}


app = FastAPI(title="My app with jobdeck", lifespan=deck.lifespan)
app.include_router(deck.api_router)


@app.get("/hello")
async def hello() -> dict[str, str]:
    """The host app's own route, next to jobdeck's."""
    return {"hello": "world"}
