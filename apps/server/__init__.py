"""`stance serve`: the model over HTTP (FastAPI on uvicorn, or Ray Serve), with cross-request batching."""
