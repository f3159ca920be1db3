"""The package version, in a helper module so that the CLI can print it without importing
the package root (which re-exports the API)."""

VERSION = "0.1.0"
