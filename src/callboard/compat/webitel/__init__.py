"""The protocol of the published `webitel-sdk` client: its WebSocket API and events."""
