"""I/O helpers that services and adapters share: they run threads and move bytes, so they
are not part of the pure core (``recorder_sync.domain``), and they know nothing of the
domain's rules."""
