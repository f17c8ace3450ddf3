"""The WSGI application, for granian or any WSGI server: ``hotline.wsgi:application``."""

from hotline.webapp import load_application, mark_ready

application = load_application()
mark_ready()
