"""The knowledge base: articles in ru/uk/en with version history, and the search that answers free text.

* ``models.py`` — articles, their per-language texts and every version;
* ``actions.py`` — the only writers (create, update, publish, roll back), audited;
* ``content.py``, ``text.py``, ``engine.py`` — pure Python: article files, text analysis, BM25 index;
* ``search.py`` — the API the bot and the portal call: ``answer()`` and ``search()``;
* ``reading.py`` — published articles for the FAQ page and the console;
* ``loader.py`` — ``hotline kb load``: the starter articles from ``kb/articles/*.yaml``.
"""
