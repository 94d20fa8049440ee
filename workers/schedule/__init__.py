"""Scheduled work: Taskiq's scheduler, its schedule sources, and the tasks it triggers
(reminders, digests, the minute sweep)."""
