"""What the bot says outside the flow, in each language the hotline speaks.

Flow texts live in the flow file; these are the bot's own short answers (commands, files, receipts).
Russian is the default: most applicants write in it.
"""

from __future__ import annotations

LANGUAGES = ("ru", "uk", "en")
DEFAULT_LANGUAGE = "ru"

PHRASES: dict[str, dict[str, str]] = {
    "help": {
        "ru": (
            "Это бот горячей линии. Всё, что вы пишете, шифруется, а переписка удаляется с вашего телефона.\n\n"
            "/start — начать заявку или вернуться к ней\n"
            "/status — что с вашей заявкой\n"
            "/lang — сменить язык\n"
            "/forget — удалить переписку с телефона прямо сейчас\n"
            "/verify — как проверить, что это настоящая горячая линия\n"
            "/subscribe, /unsubscribe — новости горячей линии: подписаться и отписаться\n\n"
            "Если у вас есть код заявки, просто отправьте его сюда: так вы продолжите со старой заявкой "
            "с нового телефона."
        ),
        "uk": (
            "Це бот гарячої лінії. Усе, що ви пишете, шифрується, а листування видаляється з вашого телефону.\n\n"
            "/start — почати заявку або повернутися до неї\n"
            "/status — що з вашою заявкою\n"
            "/lang — змінити мову\n"
            "/forget — видалити листування з телефону просто зараз\n"
            "/verify — як перевірити, що це справжня гаряча лінія\n"
            "/subscribe, /unsubscribe — новини гарячої лінії: підписатися й відписатися\n\n"
            "Якщо у вас є код заявки, просто надішліть його сюди: так ви продовжите стару заявку з нового телефону."
        ),
        "en": (
            "This is the hotline's bot. Everything you write is encrypted, and the conversation is deleted "
            "from your phone.\n\n"
            "/start — begin an application or return to it\n"
            "/status — where your application stands\n"
            "/lang — change the language\n"
            "/forget — delete this conversation from your phone now\n"
            "/verify — how to check that this is the real hotline\n"
            "/subscribe, /unsubscribe — the hotline's news: subscribe and unsubscribe\n\n"
            "If you have an application code, just send it here to continue your application from a new phone."
        ),
    },
    "choose_language": {"ru": "Выберите язык:", "uk": "Оберіть мову:", "en": "Choose a language:"},
    "language_set": {
        "ru": "Хорошо, дальше пишем по-русски.",
        "uk": "Добре, далі пишемо українською.",
        "en": "All right, English from now on.",
    },
    "welcome_back": {
        "ru": "С возвращением. Ваша заявка у нас. Напишите сюда, если хотите что-то добавить, — оператор ответит.",
        "uk": "З поверненням. Ваша заявка в нас. Напишіть сюди, якщо хочете щось додати, — оператор відповість.",
        "en": "Welcome back. We have your application. Write here to add anything; an operator will answer.",
    },
    "message_received": {
        "ru": "Сообщение получено. Оператор ответит здесь, как только сможет.",
        "uk": "Повідомлення отримано. Оператор відповість тут, щойно зможе.",
        "en": "Message received. An operator will answer here as soon as they can.",
    },
    "file_received": {
        "ru": "Файл получен и надёжно сохранён. С вашего телефона он будет удалён вместе с перепиской.",
        "uk": "Файл отримано й надійно збережено. З вашого телефону його буде видалено разом із листуванням.",
        "en": "File received and stored safely. It will be deleted from your phone with the rest of the chat.",
    },
    "file_too_big": {
        "ru": "Файл слишком большой (больше 20 МБ). Пожалуйста, отправьте файл поменьше или опишите его словами.",
        "uk": "Файл завеликий (понад 20 МБ). Будь ласка, надішліть менший файл або опишіть його словами.",
        "en": "The file is too big (over 20 MB). Please send a smaller file or describe it in words.",
    },
    "text_please": {
        "ru": "Извините, такие сообщения бот не понимает. Пожалуйста, напишите текстом.",
        "uk": "Вибачте, такі повідомлення бот не розуміє. Будь ласка, напишіть текстом.",
        "en": "Sorry, the bot cannot read this kind of message. Please write in text.",
    },
    "answer_first": {
        "ru": "Спасибо. Сначала, пожалуйста, ответьте на вопрос выше — потом можно будет прислать файлы.",
        "uk": "Дякуємо. Спершу, будь ласка, дайте відповідь на запитання вище — потім можна буде надіслати файли.",
        "en": "Thank you. Please answer the question above first; you can send files after that.",
    },
    "linked": {
        "ru": "Код принят: этот аккаунт теперь связан с вашей заявкой. Можете писать сюда.",
        "uk": "Код прийнято: цей акаунт тепер пов'язаний з вашою заявкою. Можете писати сюди.",
        "en": "Code accepted: this account is now linked to your application. You can write here.",
    },
    "flood": {
        "ru": (
            "Вы отправляете сообщения слишком быстро, и последние мы не сохранили. "
            "Подождите минуту и отправьте главное ещё раз одним сообщением."
        ),
        "uk": (
            "Ви надсилаєте повідомлення надто швидко, і останні ми не зберегли. "
            "Зачекайте хвилину й надішліть головне ще раз одним повідомленням."
        ),
        "en": (
            "You are sending messages too fast, and we did not keep the last ones. "
            "Wait a minute, then send what matters again in one message."
        ),
    },
    "earlier_replies": {
        "ru": "Ответы операторов по вашей заявке ({count}):",
        "uk": "Відповіді операторів щодо вашої заявки ({count}):",
        "en": "The operators' replies on your application ({count}):",
    },
    "receipt_unknown": {
        "ru": "Заявка с таким кодом не найдена. Проверьте код или начните новую заявку: /start",
        "uk": "Заявку з таким кодом не знайдено. Перевірте код або почніть нову заявку: /start",
        "en": "No application has this code. Check the code, or begin a new application: /start",
    },
    "no_case": {
        "ru": "У вас пока нет заявки. Начать: /start",
        "uk": "У вас поки немає заявки. Почати: /start",
        "en": "You have no application yet. To begin: /start",
    },
    "stale_button": {
        "ru": "Этот вопрос уже пройден.",
        "uk": "Це запитання вже пройдено.",
        "en": "That question is already behind us.",
    },
    "error": {
        "ru": "Извините, что-то пошло не так. Пожалуйста, повторите через минуту.",
        "uk": "Вибачте, щось пішло не так. Будь ласка, повторіть за хвилину.",
        "en": "Sorry, something went wrong. Please try again in a minute.",
    },
    # News for subscribers (/subscribe, /unsubscribe, and the offer at the end of an application).
    "subscribe_choose": {
        "ru": "На каком языке присылать новости горячей линии?",
        "uk": "Якою мовою надсилати новини гарячої лінії?",
        "en": "In which language should we send you the hotline's news?",
    },
    "subscribed": {
        "ru": "Готово: вы будете получать новости горячей линии здесь, на русском. Отписаться: /unsubscribe",
        "uk": "Готово: ви отримуватимете новини гарячої лінії тут, українською. Відписатися: /unsubscribe",
        "en": "Done: you will get the hotline's news here, in English. To stop: /unsubscribe",
    },
    "already_subscribed": {
        "ru": "Вы уже подписаны на новости. Сменить язык можно кнопками ниже, отписаться: /unsubscribe",
        "uk": "Ви вже підписані на новини. Змінити мову можна кнопками нижче, відписатися: /unsubscribe",
        "en": "You are already subscribed to the news. Change the language below, or stop with /unsubscribe",
    },
    "unsubscribed": {
        "ru": "Вы отписались от новостей. Подписаться снова: /subscribe",
        "uk": "Ви відписалися від новин. Підписатися знову: /subscribe",
        "en": "You will no longer get the news. To subscribe again: /subscribe",
    },
    "not_subscribed": {
        "ru": "Вы не подписаны на новости. Подписаться: /subscribe",
        "uk": "Ви не підписані на новини. Підписатися: /subscribe",
        "en": "You are not subscribed to the news. To subscribe: /subscribe",
    },
    "subscribe_offer": {
        "ru": "Хотите получать новости горячей линии здесь? Отписаться можно в любой момент.",
        "uk": "Хочете отримувати новини гарячої лінії тут? Відписатися можна будь-коли.",
        "en": "Do you want news from the hotline here? You can stop at any time.",
    },
    "subscribe_declined": {
        "ru": "Хорошо, без новостей. Если передумаете: /subscribe",
        "uk": "Добре, без новин. Якщо передумаєте: /subscribe",
        "en": "All right, no news. If you change your mind: /subscribe",
    },
    "button_yes": {"ru": "Да", "uk": "Так", "en": "Yes"},
    "button_no": {"ru": "Нет, спасибо", "uk": "Ні, дякую", "en": "No, thanks"},
    "button_back": {"ru": "← Назад", "uk": "← Назад", "en": "← Back"},
    "button_person": {"ru": "Написать оператору", "uk": "Написати операторові", "en": "Talk to a person"},
    # /status: the case state in plain words, nothing sensitive.
    "status_new": {
        "ru": "Заявка получена и ждёт оператора.",
        "uk": "Заявку отримано, вона чекає на оператора.",
        "en": "Your application has been received and is waiting for an operator.",
    },
    "status_triage": {
        "ru": "Оператор работает с вашей заявкой.",
        "uk": "Оператор працює з вашою заявкою.",
        "en": "An operator is working on your application.",
    },
    "status_waiting": {
        "ru": "Оператор ждёт вашего ответа. Напишите сюда, когда будет безопасно.",
        "uk": "Оператор чекає на вашу відповідь. Напишіть сюди, коли буде безпечно.",
        "en": "An operator is waiting for your answer. Write here when it is safe.",
    },
    "status_ready": {
        "ru": "Заявка подготовлена к следующему шагу. Ждите сообщения здесь.",
        "uk": "Заявку підготовлено до наступного кроку. Чекайте на повідомлення тут.",
        "en": "Your application is ready for the next step. Wait for a message here.",
    },
    "status_handed_off": {
        "ru": "Заявка передана дальше. С вами свяжутся так, как вы просили.",
        "uk": "Заявку передано далі. З вами зв'яжуться так, як ви просили.",
        "en": "Your application has been passed on. You will be contacted the way you asked.",
    },
    "status_finished": {
        "ru": "Работа по заявке завершена. Если нужна помощь снова, начните: /start",
        "uk": "Роботу за заявкою завершено. Якщо потрібна допомога знову, почніть: /start",
        "en": "Work on this application is finished. If you need help again, begin with /start",
    },
}


def language_for(code: str | None) -> str:
    """The hotline language for a Telegram ``language_code`` (Russian unless Ukrainian or English)."""
    base = (code or "").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def phrase(key: str, language: str) -> str:
    texts = PHRASES[key]
    return texts.get(language) or texts[DEFAULT_LANGUAGE]
