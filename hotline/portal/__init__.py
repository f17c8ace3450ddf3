"""The public website for applicants: information pages, the application form, the receipt mailbox.

* ``content.py`` + ``markup.py`` — page texts in files (``content/<lang>/<slug>.md``), rendered safely;
* ``views/`` — pages, the application form (``apply``), return with a receipt (``receipt``);
* ``limits.py`` + ``middleware.py`` — flood limits and the headers that keep every page to this host;
* ``contacts.py`` — the signed manifest of official contacts (``hotline contacts sign|verify``);
* ``export.py`` — ``hotline export-site DIR``, the information pages as a static mirror.

The web channel itself (form sessions, receipt mailboxes) is ``hotline/channels/web``.
"""
