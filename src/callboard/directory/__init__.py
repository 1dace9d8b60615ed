"""The directory: domains, users, roles, licenses, SIP devices and access tokens."""
