"""The portal is mounted at ``/``. Every page has its language in the path; the application form
lives under ``/apply/`` so its session cookie can be scoped to that path alone."""

from django.urls import path, register_converter
from django.urls.converters import get_converters

from hotline.inputs import IdConverter
from hotline.portal.languages import LanguageConverter
from hotline.portal.views import apply, figures, pages, receipt

register_converter(LanguageConverter, "lang")
if "id" not in get_converters():  # the console registers the same converter
    register_converter(IdConverter, "id")

app_name = "portal"

urlpatterns = [
    path("", pages.root, name="root"),
    path("contacts.json", pages.contacts_manifest, name="contacts-json"),
    path("contacts.json.sig", pages.contacts_signature, name="contacts-sig"),
    path("apply/<lang:lang>/", apply.apply, name="apply"),
    path("<lang:lang>/", pages.home, name="home"),
    path("<lang:lang>/faq/", pages.faq, name="faq"),
    path("<lang:lang>/contacts/", pages.contacts_page, name="contacts"),
    path("<lang:lang>/receipt/", receipt.receipt, name="receipt"),
    path("<lang:lang>/receipt/write", receipt.write, name="receipt-write"),
    path("<lang:lang>/figures/", figures.figures, name="figures"),
    path("<lang:lang>/figures/feed.atom", figures.figures_feed, name="figures-feed"),
    path("<lang:lang>/figures/<id:release_id>/", figures.figures_release, name="figures-release"),
    path("<lang:lang>/figures/<id:release_id>.csv", figures.figures_csv, name="figures-csv"),
    path("<lang:lang>/figures/<id:release_id>.json", figures.figures_json, name="figures-json"),
    path("<lang:lang>/<slug:slug>/", pages.page, name="page"),
]
