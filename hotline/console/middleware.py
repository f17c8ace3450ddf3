"""Static files for the console and the portal, served by WhiteNoise (the security headers of every
response, these included, are set in ``hotline/headers.py``)."""

from __future__ import annotations

from whitenoise.middleware import WhiteNoiseMiddleware  # type: ignore[import-untyped]


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, serving straight from the apps' static folders (no ``collectstatic`` step), and
    quiet when the optional collected-files directory does not exist."""

    def add_files(self, root: str, prefix: str | None = None) -> None:
        import os

        if os.path.isdir(root):
            super().add_files(root, prefix)
