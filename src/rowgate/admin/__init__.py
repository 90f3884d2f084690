"""The backend's admin API: project metadata, keys, secrets and migrations."""
