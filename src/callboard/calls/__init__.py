"""The call engine: calls made of legs, routing, and the state machine of each call.

It speaks SIP through `callboard.sip` and reports every change as a domain event; it
knows nothing of HTTP, WebSockets or any client protocol.
"""
