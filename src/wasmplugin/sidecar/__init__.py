"""The sidecar process: asyncio listeners, upstream pool, http_call dispatch, admin, reload, workers."""
