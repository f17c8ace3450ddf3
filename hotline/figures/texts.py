"""Words of the published figures, as data: table and cell names per language, and the
spokesperson's summary templates with their plural forms (ru, uk: one / few / many; en: one / other).
"""

from __future__ import annotations

from datetime import date, timedelta

from hotline.figures.models import Release

LANGUAGES = ("ru", "uk", "en")

TABLES: dict[str, dict[str, str]] = {
    "channel": {"en": "By channel", "ru": "По каналам", "uk": "За каналами"},
    "category": {"en": "Who wrote", "ru": "Кто обратился", "uk": "Хто звернувся"},
    "region": {"en": "By region", "ru": "По регионам", "uk": "За регіонами"},
    "status": {"en": "By outcome so far", "ru": "По состоянию", "uk": "За станом"},
    "language": {"en": "By language", "ru": "По языку", "uk": "За мовою"},
    "month": {"en": "By month", "ru": "По месяцам", "uk": "За місяцями"},
    "week": {"en": "By week (from Monday)", "ru": "По неделям (с понедельника)", "uk": "За тижнями (з понеділка)"},
}

CELLS: dict[str, dict[str, str]] = {
    "telegram": {"en": "Telegram", "ru": "Telegram", "uk": "Telegram"},
    "web": {"en": "Website", "ru": "Сайт", "uk": "Сайт"},
    "phone": {"en": "Phone", "ru": "Телефон", "uk": "Телефон"},
    "serviceman": {"en": "Servicemen", "ru": "Военнослужащие", "uk": "Військовослужбовці"},
    "mobilized": {"en": "Recently mobilized", "ru": "Недавно мобилизованные", "uk": "Нещодавно мобілізовані"},
    "awaiting_mobilization": {
        "en": "Not yet mobilized",
        "ru": "Ещё не мобилизованные",
        "uk": "Ще не мобілізовані",
    },
    "relative": {"en": "Relatives", "ru": "Родственники", "uk": "Родичі"},
    "occupied_resident": {
        "en": "Residents of occupied territories",
        "ru": "Жители оккупированных территорий",
        "uk": "Мешканці окупованих територій",
    },
    "russia": {"en": "Russia", "ru": "Россия", "uk": "Росія"},
    "crimea": {"en": "Occupied Crimea", "ru": "Оккупированный Крым", "uk": "Окупований Крим"},
    "occupied_other": {
        "en": "Other occupied territories",
        "ru": "Другие оккупированные территории",
        "uk": "Інші окуповані території",
    },
    "belarus": {"en": "Belarus", "ru": "Беларусь", "uk": "Білорусь"},
    "other": {"en": "Other", "ru": "Другое", "uk": "Інше"},
    "unknown": {"en": "Not stated", "ru": "Не указано", "uk": "Не вказано"},
    "new": {"en": "New", "ru": "Новые", "uk": "Нові"},
    "triage": {"en": "Being answered", "ru": "В работе", "uk": "У роботі"},
    "waiting": {"en": "Waiting for the applicant", "ru": "Ждём ответа", "uk": "Чекаємо відповіді"},
    "ready": {"en": "Ready for handoff", "ru": "Готовы к передаче", "uk": "Готові до передачі"},
    "handed_off": {"en": "Handed off", "ru": "Переданы", "uk": "Передані"},
    "completed": {"en": "Completed", "ru": "Завершены", "uk": "Завершені"},
    "closed": {"en": "Closed", "ru": "Закрыты", "uk": "Закриті"},
    "rejected": {"en": "Rejected", "ru": "Отклонены", "uk": "Відхилені"},
    "ru": {"en": "Russian", "ru": "Русский", "uk": "Російська"},
    "uk": {"en": "Ukrainian", "ru": "Украинский", "uk": "Українська"},
    "en": {"en": "English", "ru": "Английский", "uk": "Англійська"},
}

SUMMARY: dict[str, dict[str, object]] = {
    "en": {
        "appeals": {"one": "appeal", "other": "appeals"},
        "since": "Since the launch, the hotline has received {n} {appeals}.",
        "month": "In {month}: {n} {appeals}.",
        "period": "From {start} to {end}: {n} {appeals}.",
        "top": "The largest group ({table}): {cell}, about {n}.",
        "note": "All figures are rounded to multiples of {base}.",
        "months": "January February March April May June July August September October November December",
    },
    "ru": {
        "appeals": {"one": "обращение", "few": "обращения", "many": "обращений"},
        "since": "С начала работы на горячую линию поступило {n} {appeals}.",
        "month": "В {month}: {n} {appeals}.",
        "period": "С {start} по {end}: {n} {appeals}.",
        "top": "Самая большая группа ({table}): {cell}, около {n}.",
        "note": "Все числа округлены до кратных {base}.",
        "months": "январе феврале марте апреле мае июне июле августе сентябре октябре ноябре декабре",
    },
    "uk": {
        "appeals": {"one": "звернення", "few": "звернення", "many": "звернень"},
        "since": "Від початку роботи на гарячу лінію надійшло {n} {appeals}.",
        "month": "У {month}: {n} {appeals}.",
        "period": "З {start} по {end}: {n} {appeals}.",
        "top": "Найбільша група ({table}): {cell}, близько {n}.",
        "note": "Усі числа округлено до кратних {base}.",
        "months": "січні лютому березні квітні травні червні липні серпні вересні жовтні листопаді грудні",
    },
}


def plural_form(language: str, n: int) -> str:
    """CLDR plural category of ``n`` (integers): one / few / many for ru and uk, one / other for en."""
    if language in ("ru", "uk"):
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    return "one" if n == 1 else "other"


def plural(language: str, n: int, forms: dict[str, str]) -> str:
    return forms[plural_form(language, n)]


def table_label(name: str, language: str) -> str:
    return TABLES.get(name, {}).get(language, name)


def cell_label(table: str, key: str, language: str) -> str:
    if table in ("month", "week"):
        return key
    return CELLS.get(key, {}).get(language, key)


def number(n: int, language: str) -> str:
    text = f"{n:,}"
    return text if language == "en" else text.replace(",", "\u00a0")


def _date(d: date, language: str) -> str:
    return d.isoformat() if language == "en" else f"{d.day:02}.{d.month:02}.{d.year}"


def _whole_month(start: date, end: date) -> bool:
    same = start.year == end.year and start.month == end.month
    return same and start.day == 1 and (end + timedelta(days=1)).day == 1


def summary(release: Release, language: str) -> str:
    """The spokesperson's paragraph, from the release's published (rounded) numbers only."""
    words = SUMMARY[language]
    forms: dict[str, str] = words["appeals"]  # type: ignore[assignment]
    numbers = release.published
    cumulative, total = int(numbers["cumulative"]), int(numbers["total"])
    parts = [str(words["since"]).format(n=number(cumulative, language), appeals=plural(language, cumulative, forms))]
    start, end = release.period_start, release.period_end
    if _whole_month(start, end):
        month = f"{str(words['months']).split()[start.month - 1]} {start.year}"
        n, appeals = number(total, language), plural(language, total, forms)
        parts.append(str(words["month"]).format(month=month, n=n, appeals=appeals))
    else:
        parts.append(
            str(words["period"]).format(
                start=_date(start, language),
                end=_date(end, language),
                n=number(total, language),
                appeals=plural(language, total, forms),
            )
        )
    for table in numbers["tables"]:
        if table["name"] in ("month", "week", "status", "language"):
            continue
        cells = {k: v for k, v in table["cells"].items() if k != "unknown"}
        if cells and max(cells.values()) > 0:
            key = max(cells, key=lambda k: cells[k])
            parts.append(
                str(words["top"]).format(
                    table=table_label(table["name"], language).lower(),
                    cell=cell_label(table["name"], key, language),
                    n=number(cells[key], language),
                )
            )
            break
    parts.append(str(words["note"]).format(base=numbers.get("base", 5)))
    return " ".join(parts)
