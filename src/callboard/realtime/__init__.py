"""Per-user event streams: every domain event that concerns a user, numbered in order,
kept for a while so a client that reconnects can ask for what it missed, and fanned out
to that user's live connections without ever making the call engine wait."""
