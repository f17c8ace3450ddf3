"""The web channel: the portal's application form and the receipt mailbox.

* ``session.py`` — a form session: an unguessable token in a signed cookie, the ``web`` channel
  identity behind it (blind index, like every channel address), and one flow step per form post;
* ``mailbox.py`` — how a web applicant reads operator replies with nothing but the receipt;
* ``outbound.py`` — an operator's reply to a web case, sealed into the receipt mailboxes.

The portal's views (``hotline/portal``) call these; nothing here renders HTML.
"""
