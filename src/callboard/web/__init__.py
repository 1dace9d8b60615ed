"""The browser side the server serves: the SDK (built from web/sdk) and its pages."""
