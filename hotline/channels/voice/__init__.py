"""The phone line: calls reach the hotline through a voice provider that speaks TwiML.

The provider (Twilio, SignalWire, or a self-hosted Somleng) POSTs call events to ``/voice/…``; we
answer with TwiML built by the ``twilio`` package and check every request's ``X-Twilio-Signature``.

* ``menu.py`` — the voice menu as data (``content/menu.yaml``: languages, keys, prompts) and the
  spoken texts, taken from the website's page texts as edited in the console;
* ``views.py`` — the webhooks: language, menu, ringing operators on duty, voicemail, callbacks;
* ``calls.py`` — the actions: the only code that writes calls, duty and callbacks, and puts every
  call on its case's timeline;
* ``adapter.py`` — outbound through the provider's REST API (the ``twilio`` client): fetch a
  voicemail, seal it, delete it at the provider and check it is gone; place a callback;
* ``channel.py`` — the channel contract (``hotline.channels.base``).
"""
