"""The headers every HTML answer carries, pages and error pages alike."""

from __future__ import annotations

# No inline script or style anywhere: the pages run under a strict Content-Security-Policy.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Personal pages on shared screens (kiosks, lab PCs) must not come back from a cache.
    "Cache-Control": "no-store",
}
