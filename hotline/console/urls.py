"""The console's URLs. Every view here is wrapped in ``staff_view`` (console/access.py) and has a row
in the authorization matrix test (tests/test_console_access.py)."""

from django.urls import path, register_converter

from hotline.console.views import admin, articles, case, duty, handoff, oversight, page_texts, phone, posts, queue
from hotline.inputs import IdConverter

register_converter(IdConverter, "id")  # ids in paths: at most 18 digits (Django's <int:> takes any number)

app_name = "console"

urlpatterns = [
    path("", queue.home, name="home"),
    path("queue/", queue.queue_page, name="queue"),
    path("queue/rows/", queue.queue_rows, name="queue_rows"),
    path("next/", queue.next_case, name="next"),
    path("goto/", queue.goto, name="goto"),
    path("case/<uuid:case_id>/", case.case_page, name="case"),
    path("case/<uuid:case_id>/reply/", case.reply, name="case_reply"),
    path("case/<uuid:case_id>/note/", case.note, name="case_note"),
    path("case/<uuid:case_id>/status/", case.transition, name="case_transition"),
    path("case/<uuid:case_id>/assign/", case.assign, name="case_assign"),
    path("case/<uuid:case_id>/tags/", case.tags, name="case_tags"),
    path("case/<uuid:case_id>/link/", case.link, name="case_link"),
    path("case/<uuid:case_id>/unlink/", case.unlink, name="case_unlink"),
    path("case/<uuid:case_id>/flag/", case.flag, name="case_flag"),
    path("case/<uuid:case_id>/unblock/", case.unblock, name="case_unblock"),
    path("case/<uuid:case_id>/preference/", case.preference, name="case_preference"),
    path("case/<uuid:case_id>/callback/", case.callback, name="case_callback"),
    path("attachment/<uuid:attachment_id>/", case.attachment, name="attachment"),
    path("reply-article/<str:language>/<slug:slug>/", articles.reply_article, name="reply_article"),
    path("phone/", phone.phone_home, name="phone"),
    path("phone/start/", phone.phone_start, name="phone_start"),
    path("phone/log/", phone.phone_log, name="phone_log"),
    path("phone/<uuid:identity_id>/", phone.phone_step, name="phone_step"),
    path("duty/", duty.duty_page, name="duty"),
    path("duty/line/", duty.duty_line, name="duty_line"),
    path("duty/toggle/", duty.duty_toggle, name="duty_toggle"),
    path("handoff/", handoff.handoff_list, name="handoff"),
    path("handoff/<uuid:case_id>/", handoff.handoff_case, name="handoff_case"),
    path("handoff/<uuid:case_id>/outcome/", handoff.handoff_outcome, name="handoff_outcome"),
    path("load/", oversight.load, name="load"),
    path("figures/", oversight.figures, name="figures"),
    path("audit/", oversight.audit_log, name="audit"),
    path("audit/verify/", oversight.audit_verify, name="audit_verify"),
    path("staff/", admin.staff_list, name="staff"),
    path("staff/add/", admin.staff_add, name="staff_add"),
    path("staff/<id:user_id>/remove/", admin.staff_remove, name="staff_remove"),
    path("staff/<id:user_id>/reset/", admin.staff_reset, name="staff_reset"),
    path("staff/<id:user_id>/role/", admin.staff_role, name="staff_role"),
    path("content/", admin.content, name="content"),
    path("content/canned/", admin.canned_add, name="canned_add"),
    path("content/canned/<id:reply_id>/delete/", admin.canned_delete, name="canned_delete"),
    path("content/tags/", admin.tag_add, name="tag_add"),
    path("content/tags/<id:tag_id>/delete/", admin.tag_delete, name="tag_delete"),
    path("content/pages/", page_texts.pages, name="pages"),
    path("content/pages/<str:language>/<slug:page_slug>/edit/", page_texts.page_edit, name="page_edit"),
    path("content/pages/<str:language>/<slug:page_slug>/history/", page_texts.page_history, name="page_history"),
    path("content/pages/<str:language>/<slug:page_slug>/rollback/", page_texts.page_rollback, name="page_rollback"),
    path("content/articles/", articles.articles, name="articles"),
    path("content/articles/new/", articles.article_new, name="article_new"),
    path("content/articles/<slug:slug>/edit/", articles.article_edit, name="article_edit"),
    path("content/articles/<slug:slug>/publish/", articles.article_publish, name="article_publish"),
    path("content/articles/<slug:slug>/history/", articles.article_history, name="article_history"),
    path("content/articles/<slug:slug>/rollback/", articles.article_rollback, name="article_rollback"),
    # Under /console/posts/ a form may carry an image (hotline/inputs.py, UPLOAD_PATHS).
    path("posts/", posts.post_list, name="posts"),
    path("posts/new/", posts.post_new, name="post_new"),
    path("posts/<uuid:post_id>/", posts.post_page, name="post"),
    path("posts/<uuid:post_id>/edit/", posts.post_edit, name="post_edit"),
    path("posts/<uuid:post_id>/image/", posts.post_image, name="post_image"),
    path("posts/<uuid:post_id>/do/", posts.post_action, name="post_action"),
    path("posts/<uuid:post_id>/broadcast/", posts.post_broadcast, name="post_broadcast"),
    path("posts/broadcasts/<uuid:broadcast_id>/", posts.broadcast_page, name="broadcast"),
    path("posts/broadcasts/<uuid:broadcast_id>/control/", posts.broadcast_control, name="broadcast_control"),
]
