"""Masked display of personal data: what every door shows unless a reveal was granted."""

from __future__ import annotations


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_full_name(full_name: str) -> str:
    """Initials only: "Ayesha Khan" → "A. K."."""
    return " ".join(f"{word[0]}." for word in full_name.split() if word) or "***"
