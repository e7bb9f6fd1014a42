"""frontdoor: production as a contract between app, platform and delivery teams."""

__version__ = "0.1.0"
