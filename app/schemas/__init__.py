"""Pydantic models at the edges (schemas layer), shared by web and worker; no FastAPI import."""
