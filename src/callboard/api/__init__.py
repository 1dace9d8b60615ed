"""The HTTP surface: REST under /api, OpenAPI documentation at /api/docs."""
