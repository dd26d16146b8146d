"""recorder_sync: evidence-ingestion daemon for body-worn cameras."""

__version__ = "0.1.0"
