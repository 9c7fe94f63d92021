"""Helper scripts that run inside the sandbox; shipped as package data, never imported here."""
