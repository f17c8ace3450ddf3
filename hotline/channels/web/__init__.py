"""The web channel: the portal's application form and the receipt mailbox.

* ``session.py`` — a form session: an unguessable token in a signed cookie, the ``web`` channel
  identity behind it (blind index, like every channel address), and one flow step per form post;
* ``mailbox.py`` — how a web applicant reads operator replies with nothing but the receipt;
* ``channel.py`` — the channel contract: every operator reply sealed into the receipt mailboxes.

The portal's views (``hotline/portal``) call these; nothing here renders HTML.
"""
