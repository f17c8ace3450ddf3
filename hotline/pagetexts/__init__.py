"""The portal's page texts as edited in the console: every version kept, who saved it, roll back.

* ``models.py`` — ``PageVersion``, one row per saved version of one page in one language;
* ``actions.py`` — the only writers (save, roll back, back to the file), audited;
* ``reading.py`` — the text the portal shows (registered with ``hotline.portal.content`` at start-up),
  the list of pages and their history for the console.

A page nobody has edited has no version and shows its file (``hotline/portal/content/<lang>/<slug>.md``
or the deployment's own directory).
"""
