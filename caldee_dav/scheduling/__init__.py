"""Scheduling domain: availability schedules, event types, slots and bookings."""
