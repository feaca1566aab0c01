"""Caledee: the calendar store, the CalDAV front end on Radicale and the scheduling domain."""

__version__ = "0.1.0"
