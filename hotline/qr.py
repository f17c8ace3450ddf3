"""QR codes drawn on the server as inline SVG: a secret or a one-time code in one never leaves for a
chart service, and the page needs no script."""

from __future__ import annotations


def svg(text: str, *, label: str = "QR") -> str:
    """``text`` as an inline ``<svg class="qr">`` element (``label`` for screen readers)."""
    import qrcode  # imported where a code is drawn: enrolling a device, linking a Telegram account
    import qrcode.image.svg
    from django.utils.html import escape

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    markup = str(image.to_string(encoding="unicode"))
    return markup.replace("<svg ", f'<svg class="qr" role="img" aria-label="{escape(label)}" ', 1)
