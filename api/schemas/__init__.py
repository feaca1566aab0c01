"""Pydantic models of the REST edge: request bodies in, JSON documents out (camelCase)."""
