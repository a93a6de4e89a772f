"""HTTP layer: the FastAPI app, JSON API (``api``), HTML pages (``pages``), auth and errors."""
