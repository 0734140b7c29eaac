"""The only package that opens database connections: the registry (read-only) and the app store."""
