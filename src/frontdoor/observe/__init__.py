"""Seeing and managing traffic: metrics, the access log's labels, the admin API, kill switch, reload."""
