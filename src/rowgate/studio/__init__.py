"""Studio: the backend's admin UI for browsing every schema."""
