"""The voice provider emulator, tested against a tiny TwiML app of its own (no hotline code).

The app is a handful of functions behind ``FunctionTransport``, which checks every webhook's
``X-Twilio-Signature`` with the real ``RequestValidator`` before routing it. The REST side is driven
with the real ``twilio.rest.Client`` pointed at the emulator. Time is simulated: no sleeps."""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.http import HttpRequest
from django.test import RequestFactory
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from hotline.testing.voice_emulator import (
    APPLICATION_ERROR_TEXT,
    Answer,
    Busy,
    DjangoClientTransport,
    Failed,
    Heard,
    HttpTransport,
    NoAnswer,
    Speech,
    VoiceProvider,
)

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "emulator-auth-token"
NUMBER = "+15550100"
BASE = "http://testserver/voice"
CALLER = "+79161234567"
OP1 = "+380501112233"
OP2 = "+380501112244"
SIP = "sip:op2@pbx.example"

Handler = Callable[[dict[str, str]], "str | tuple[int, str]"]


class FunctionTransport:
    """Routes webhooks by path to functions; refuses (403) any request whose signature is wrong."""

    def __init__(self, token: str, routes: dict[str, Handler]) -> None:
        self.validator = RequestValidator(token)
        self.routes = routes
        self.seen: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.refused = 0

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        self.seen.append((url, dict(params), dict(headers)))
        if not self.validator.validate(url, params, headers.get("X-Twilio-Signature", "")):
            self.refused += 1
            return 403, "bad signature"
        handler = self.routes.get(urlsplit(url).path)
        if handler is None:
            return 404, "not found"
        answer = handler(params)
        return (200, answer) if isinstance(answer, str) else answer


def twiml(build: Callable[[VoiceResponse], object]) -> str:
    response = VoiceResponse()
    build(response)
    return str(response)


def empty(_params: dict[str, str]) -> str:
    return str(VoiceResponse())


def make_provider(routes: dict[str, Handler], token: str = TOKEN) -> tuple[VoiceProvider, FunctionTransport]:
    transport = FunctionTransport(token, {"/voice/status": empty, **routes})
    provider = VoiceProvider(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        number=NUMBER,
        incoming_url=f"{BASE}/incoming",
        status_url=f"{BASE}/status",
        transport=transport,
    )
    return provider, transport


@pytest.fixture
def api_client() -> Iterator[Callable[[VoiceProvider], Client]]:
    started: list[VoiceProvider] = []

    def connect(provider: VoiceProvider, token: str = TOKEN) -> Client:
        provider.start_api()
        started.append(provider)
        client = Client(ACCOUNT, token)
        client.api.base_url = provider.api_base
        return client

    yield connect
    for provider in started:
        provider.stop()


def menu_app() -> dict[str, Handler]:
    def incoming(_params: dict[str, str]) -> str:
        def build(r: VoiceResponse) -> None:
            gather = Gather(num_digits=1, action=f"{BASE}/menu", timeout=7)
            gather.say("Press 1 for help, 2 to leave a message.", language="uk-UA")
            r.append(gather)
            r.say("We did not hear you.")
            r.redirect(f"{BASE}/incoming")

        return twiml(build)

    def menu(params: dict[str, str]) -> str:
        if params["Digits"] == "1":
            return twiml(lambda r: r.gather(action="/voice/code", finish_on_key="#").say("Enter your code."))
        return twiml(lambda r: r.say("Goodbye.") and r.hangup())

    def code(params: dict[str, str]) -> str:
        return twiml(lambda r: r.say(f"Code {params['Digits']}.") and r.hangup())

    return {"/voice/incoming": incoming, "/voice/menu": menu, "/voice/code": code}


# --- Gather ------------------------------------------------------------------------------------------


def test_gather_presses_follow_actions_with_signed_twilio_parameters() -> None:
    provider, transport = make_provider(menu_app())
    call = provider.place_call(CALLER, presses=["1", "42#"])

    assert call.status == "completed"
    assert transport.refused == 0
    assert [h.text for h in call.heard] == ["Press 1 for help, 2 to leave a message.", "Enter your code.", "Code 42."]
    assert call.heard[0] == Heard("say", "Press 1 for help, 2 to leave a message.", "uk-UA", "caller")
    urls = [w.url for w in call.webhooks]
    assert urls == [f"{BASE}/incoming", f"{BASE}/menu", f"{BASE}/code", f"{BASE}/status"]
    first, menu, code, status = (w.params for w in call.webhooks)
    assert first["CallStatus"] == "ringing" and menu["CallStatus"] == "in-progress"
    for params in (first, menu, code, status):
        assert params["AccountSid"] == ACCOUNT and params["CallSid"] == call.sid
        assert params["From"] == params["Caller"] == CALLER
        assert params["To"] == params["Called"] == NUMBER
        assert params["Direction"] == "inbound" and params["ApiVersion"] == "2010-04-01"
    assert menu["Digits"] == "1"
    assert code["Digits"] == "42" and code["FinishedOnKey"] == "#"
    assert status["CallStatus"] == "completed" and int(status["CallDuration"]) == pytest.approx(call.duration, abs=1)
    assert call.webhooks[0].status_code == 200 and "<Gather" in call.webhooks[0].body
    assert provider.calls[call.sid] is call


def test_gather_timeout_goes_on_with_the_next_verb_and_a_caller_without_presses_hangs_up() -> None:
    provider, _ = make_provider(menu_app())
    call = provider.place_call(CALLER, presses=[None, "2"])

    said = [h.text for h in call.heard]
    assert said == ["Press 1 for help, 2 to leave a message.", "We did not hear you.", said[0], "Goodbye."]
    assert [w.url.rsplit("/", 1)[1] for w in call.webhooks] == ["incoming", "incoming", "menu", "status"]
    prompt = len(said[0]) / 15
    assert call.duration == pytest.approx(
        prompt + 7 + len("We did not hear you.") / 15 + prompt + 0.5 + len("Goodbye.") / 15
    )

    hung_up = provider.place_call(None, presses=[])
    assert hung_up.status == "completed"
    assert [w.url for w in hung_up.webhooks] == [f"{BASE}/incoming", f"{BASE}/status"]
    assert hung_up.webhooks[0].params["From"] == "anonymous"
    assert hung_up.webhooks[-1].params["CallStatus"] == "completed"


def test_presses_must_be_keys() -> None:
    provider, _ = make_provider(menu_app())
    with pytest.raises(ValueError, match="0-9"):
        provider.place_call(CALLER, presses=["1a"])


# --- Record, recordings through the REST API ---------------------------------------------------------


def record_app(max_length: int = 120) -> dict[str, Handler]:
    def incoming(_params: dict[str, str]) -> str:
        def build(r: VoiceResponse) -> None:
            r.say("Leave a message after the beep.")
            r.record(
                action=f"{BASE}/recorded",
                max_length=max_length,
                finish_on_key="#",
                recording_status_callback=f"{BASE}/recording-status",
            )
            r.say("Nothing was recorded.")

        return twiml(build)

    def recorded(_params: dict[str, str]) -> str:
        return twiml(lambda r: r.say("Thank you."))

    return {"/voice/incoming": incoming, "/voice/recorded": recorded, "/voice/recording-status": empty}


def media(provider: VoiceProvider, url: str, token: str = TOKEN) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url)  # noqa: S310 - the local emulator
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{ACCOUNT}:{token}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local emulator
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers["Content-Type"]


def test_record_posts_action_and_status_callback_and_the_recording_is_fetched_then_deleted(
    api_client: Callable[[VoiceProvider], Client],
) -> None:
    provider, transport = make_provider(record_app())
    client = api_client(provider)
    audio = b"RIFF....WAVEfmt test audio"
    call = provider.place_call(CALLER, speech=Speech(seconds=12, audio=audio, end="#"))

    assert transport.refused == 0
    assert [h.text for h in call.heard] == ["Leave a message after the beep.", "Thank you."]
    action = call.params_of("/recorded")[0]
    sid = action["RecordingSid"]
    assert action["RecordingUrl"] == f"{provider.api_base}/2010-04-01/Accounts/{ACCOUNT}/Recordings/{sid}"
    assert action["RecordingDuration"] == "12" and action["Digits"] == "#"
    status = call.params_of("/recording-status")[0]
    assert status["RecordingStatus"] == "completed" and status["RecordingSid"] == sid
    assert status["RecordingDuration"] == "12" and status["CallSid"] == call.sid
    assert provider.recordings[sid].audio == audio and provider.recordings[sid].call_sid == call.sid

    resource = client.recordings(sid).fetch()
    assert (resource.sid, resource.call_sid, resource.duration, resource.status) == (sid, call.sid, "12", "completed")
    assert resource.date_created is not None and resource.uri.endswith(f"/Recordings/{sid}.json")
    assert media(provider, action["RecordingUrl"]) == (200, audio, "audio/x-wav")
    assert media(provider, action["RecordingUrl"] + ".wav")[1] == audio
    code, mp3, kind = media(provider, action["RecordingUrl"] + ".mp3")
    assert (code, kind) == (200, "audio/mpeg") and mp3.startswith(b"\xff\xfb")
    assert client.request("GET", action["RecordingUrl"] + ".wav", auth=(ACCOUNT, TOKEN)).status_code == 200
    assert provider.recordings[sid].media_fetches == 4

    assert client.recordings(sid).delete() is True
    assert provider.recordings[sid].deleted
    with pytest.raises(TwilioRestException) as missing:
        client.recordings(sid).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)
    status_code, body, _ = media(provider, action["RecordingUrl"] + ".wav")
    assert status_code == 404 and json.loads(body)["code"] == 20404
    with pytest.raises(TwilioRestException):
        client.recordings(sid).delete()
    path = f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{sid}.json"
    assert provider.api_requests[-4:-1] == [("DELETE", path, 204), ("GET", path, 404), ("GET", path[:-5] + ".wav", 404)]


def test_record_hang_up_silence_and_max_length() -> None:
    provider, _ = make_provider(record_app(max_length=30))

    hung_up = provider.place_call(CALLER, speech=Speech(seconds=20))
    action = hung_up.params_of("/recorded")[0]
    assert action["Digits"] == "hangup" and action["CallStatus"] == "completed"
    assert [h.text for h in hung_up.heard] == ["Leave a message after the beep."]  # the answer is not played
    assert [w.url.rsplit("/", 1)[1] for w in hung_up.webhooks] == ["incoming", "recorded", "recording-status", "status"]
    assert provider.recordings[action["RecordingSid"]].audio.startswith(b"RIFF")

    silent = provider.place_call(CALLER, speech=None)
    assert silent.params_of("/recorded") == [] and silent.params_of("/recording-status") == []
    assert [h.text for h in silent.heard] == ["Leave a message after the beep.", "Nothing was recorded."]

    long = provider.place_call(CALLER, speech=Speech(seconds=100, end="#"))
    action = long.params_of("/recorded")[0]
    assert action["RecordingDuration"] == "30" and "Digits" not in action
    assert provider.recordings[action["RecordingSid"]].duration == 30


def test_rest_api_refuses_wrong_credentials(api_client: Callable[..., Client]) -> None:
    provider, _ = make_provider(record_app())
    call = provider.place_call(CALLER, speech=Speech(seconds=3, end="#"))
    sid = call.recordings[0]
    client = api_client(provider, "wrong-token")
    with pytest.raises(TwilioRestException) as refused:
        client.recordings(sid).fetch()
    assert (refused.value.status, refused.value.code) == (401, 20003)
    status, body, _ = media(provider, provider.recording_url(sid), token="wrong")
    assert status == 401
    assert json.loads(body) == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
        "detail": "Your AccountSid or AuthToken was incorrect.",
    }
    assert provider.recordings[sid].media_fetches == 0


# --- Dial --------------------------------------------------------------------------------------------


def dial_app(*targets: tuple[str, str, bool]) -> tuple[dict[str, Handler], list[dict[str, str]]]:
    """Dial the targets (kind "number"/"sip", address, with whisper) at once; record the action."""
    actions: list[dict[str, str]] = []

    def incoming(_params: dict[str, str]) -> str:
        dial = Dial(action=f"{BASE}/dialed", caller_id=NUMBER, timeout=20)
        for kind, address, whisper in targets:
            url = f"{BASE}/whisper" if whisper else None
            if kind == "sip":
                dial.sip(address, url=url)
            else:
                dial.number(address, url=url)
        return twiml(lambda r: r.say("Connecting you.") and r.append(dial))

    def whisper(_params: dict[str, str]) -> str:
        def build(r: VoiceResponse) -> None:
            r.gather(num_digits=1, action="/voice/accept").say("A hotline call. Press 1 to take it.")
            r.hangup()

        return twiml(build)

    def accept(params: dict[str, str]) -> str:
        return str(VoiceResponse()) if params["Digits"] == "1" else twiml(lambda r: r.hangup())

    def dialed(params: dict[str, str]) -> str:
        actions.append(params)
        return twiml(lambda r: r.say(f"Dial ended: {params['DialCallStatus']}."))

    routes: dict[str, Handler] = {"/voice/incoming": incoming, "/voice/whisper": whisper, "/voice/accept": accept}
    routes["/voice/dialed"] = dialed
    return routes, actions


def test_dial_rings_simultaneously_runs_the_whisper_and_bridges_the_first_who_accepts() -> None:
    routes, actions = dial_app(("number", OP1, True), ("sip", SIP, True), ("number", OP2, True))
    provider, transport = make_provider(routes)
    provider.phones[OP1] = Answer(talk_seconds=60, presses=[None])  # lets the whisper Gather time out
    provider.phones[SIP] = Answer(talk_seconds=95, ring_seconds=4)
    provider.phones[OP2] = Answer(talk_seconds=30)

    call = provider.place_call(CALLER, presses=[])

    assert transport.refused == 0
    [dial] = call.dials
    assert dial.addresses == [OP1, SIP, OP2] and dial.caller_id == NUMBER
    assert (dial.outcome, dial.answered_by) == ("completed", SIP)
    assert [leg.outcome for leg in dial.legs] == ["declined", "completed", "canceled"]
    [action] = actions
    assert action["DialCallStatus"] == "completed" and action["DialBridged"] == "true"
    assert action["DialCallSid"] == dial.legs[1].call_sid
    whisper_seconds = len("A hotline call. Press 1 to take it.") / 15 + 0.5
    assert int(action["DialCallDuration"]) == pytest.approx(95 + whisper_seconds, abs=1)
    whispers = call.params_of("/whisper")
    assert [p["To"] for p in whispers] == [OP1, SIP]
    for params in whispers:
        assert params["Direction"] == "outbound-dial" and params["ParentCallSid"] == call.sid
        assert params["From"] == NUMBER and params["CallSid"] != call.sid
    callee_heard = [h for h in call.heard if h.leg == "callee"]
    assert len(callee_heard) == 2 and callee_heard[0].text.startswith("A hotline call")
    assert call.heard[-1] == Heard("say", "Dial ended: completed.", "en-US", "caller")
    leg = provider.calls[dial.legs[1].call_sid]
    assert (leg.direction, leg.parent_call_sid, leg.status) == ("outbound-dial", call.sid, "completed")


def test_dial_nobody_answers_posts_the_action_with_no_answer() -> None:
    routes, actions = dial_app(("number", OP1, False), ("sip", SIP, False), ("number", "+380509999999", False))
    provider, _ = make_provider(routes)
    provider.phones[OP1] = NoAnswer()
    provider.phones[SIP] = Busy()

    call = provider.place_call(CALLER, presses=[])

    [action] = actions
    assert action["DialCallStatus"] == "no-answer" and action["DialBridged"] == "false"
    assert "DialCallDuration" not in action and action["DialCallSid"] == call.dials[0].legs[0].call_sid
    assert [leg.outcome for leg in call.dials[0].legs] == ["no-answer", "busy", "no-answer"]
    assert call.duration == pytest.approx(len("Connecting you.") / 15 + 20 + len("Dial ended: no-answer.") / 15)

    provider.phones[OP1] = Busy()
    provider.phones["+380509999999"] = Failed()
    provider.place_call(CALLER)
    assert actions[-1]["DialCallStatus"] == "busy"


def test_dial_without_action_goes_on_and_an_unverified_caller_id_fails() -> None:
    def incoming(_params: dict[str, str]) -> str:
        def build(r: VoiceResponse) -> None:
            r.dial(OP1, caller_id="+15559999999")
            r.dial(OP1)
            r.say("After the calls.")

        return twiml(build)

    provider, _ = make_provider({"/voice/incoming": incoming})
    provider.phones[OP1] = Answer(talk_seconds=10, hangs_up="callee")
    call = provider.place_call(CALLER)
    assert [d.outcome for d in call.dials] == ["failed", "completed"]
    assert call.dials[1].caller_id == CALLER
    assert [e.code for e in call.errors] == [13214]
    assert call.heard[-1].text == "After the calls."


# --- outbound calls through the REST API -------------------------------------------------------------


def outbound_app() -> dict[str, Handler]:
    def connect(params: dict[str, str]) -> str:
        def build(r: VoiceResponse) -> None:
            r.say("Calling back the applicant.")
            r.dial(CALLER, caller_id=NUMBER)

        return twiml(build)

    return {"/voice/connect": connect, "/voice/outbound-status": empty}


def test_outbound_call_created_through_the_client_runs_when_pending_calls_run(
    api_client: Callable[[VoiceProvider], Client],
) -> None:
    provider, transport = make_provider(outbound_app())
    client = api_client(provider)
    provider.phones[OP1] = Answer()
    provider.phones[CALLER] = Answer(talk_seconds=200)

    created = client.calls.create(
        to=OP1, from_=NUMBER, url=f"{BASE}/connect", status_callback=f"{BASE}/outbound-status"
    )
    assert created.status == "queued" and created.sid.startswith("CA") and created.direction == "outbound-api"
    assert created.date_created is not None and created.uri.endswith(f"/Calls/{created.sid}.json")
    assert provider.calls[created.sid].webhooks == []

    [call] = provider.run_pending()
    assert call.sid == created.sid and call.status == "completed"
    connect = call.params_of("/connect")[0]
    assert (connect["Direction"], connect["CallStatus"], connect["From"], connect["To"]) == (
        "outbound-api",
        "in-progress",
        NUMBER,
        OP1,
    )
    assert call.heard[0] == Heard("say", "Calling back the applicant.", "en-US", "caller")
    assert call.dials[0].answered_by == CALLER and call.dials[0].caller_id == NUMBER
    status = call.params_of("/outbound-status")[0]
    assert status["CallStatus"] == "completed" and int(status["CallDuration"]) >= 200
    fetched = client.calls(created.sid).fetch()
    assert fetched.status == "completed" and int(fetched.duration or 0) >= 200
    assert transport.refused == 0

    provider.calls_per_second = None
    for to, entry, expected in [(OP2, NoAnswer(), "no-answer"), (SIP, Busy(), "busy")]:
        provider.phones[to] = entry
        sid = client.calls.create(
            to=to, from_=NUMBER, url=f"{BASE}/connect", status_callback=f"{BASE}/outbound-status"
        ).sid
        [unanswered] = provider.run_pending()
        assert unanswered.sid == sid and unanswered.status == expected
        assert [w.params["CallStatus"] for w in unanswered.webhooks] == [expected]
        assert unanswered.webhooks[0].params["CallDuration"] == "0"


def test_outbound_calls_run_in_the_background_as_they_arrive(api_client: Callable[[VoiceProvider], Client]) -> None:
    provider, _ = make_provider(outbound_app())
    client = api_client(provider)
    provider.phones[OP1] = Answer()
    provider.start_background()
    sid = client.calls.create(to=OP1, from_=NUMBER, url=f"{BASE}/connect").sid
    call = provider.wait_for_call(sid)
    assert call.status == "completed" and call.heard[0].text == "Calling back the applicant."
    assert provider.run_pending() == [] and provider.background_errors == []


def test_calls_create_validates_like_twilio(api_client: Callable[[VoiceProvider], Client]) -> None:
    provider, _ = make_provider(outbound_app())
    client = api_client(provider)
    provider.calls_per_second = None
    cases: list[tuple[dict[str, Any], int]] = [
        ({"to": "", "from_": NUMBER, "url": f"{BASE}/connect"}, 21201),
        ({"to": "12345", "from_": NUMBER, "url": f"{BASE}/connect"}, 21211),
        ({"to": OP1, "from_": "+15557777777", "url": f"{BASE}/connect"}, 21210),
        ({"to": OP1, "from_": NUMBER}, 21205),
        ({"to": OP1, "from_": NUMBER, "url": "not a url"}, 21205),
        ({"to": OP1, "from_": NUMBER, "twiml": "<Response>" + "<Pause/>" * 600 + "</Response>"}, 32018),
    ]
    for kwargs, code in cases:
        with pytest.raises(TwilioRestException) as invalid:
            client.calls.create(**kwargs)
        assert (invalid.value.status, invalid.value.code) == (400, code), kwargs
    assert provider.calls == {}


def test_calls_over_the_rate_get_429(api_client: Callable[[VoiceProvider], Client]) -> None:
    now = [100.0]
    transport = FunctionTransport(TOKEN, outbound_app())
    provider = VoiceProvider(ACCOUNT, TOKEN, NUMBER, f"{BASE}/incoming", None, transport, monotonic=lambda: now[0])
    client = api_client(provider)
    provider.calls_per_second = 1
    client.calls.create(to=OP1, from_=NUMBER, url=f"{BASE}/connect")
    with pytest.raises(TwilioRestException) as limited:
        client.calls.create(to=OP1, from_=NUMBER, url=f"{BASE}/connect")
    assert (limited.value.status, limited.value.code) == (429, 20429)
    now[0] += 1.0
    client.calls.create(to=OP1, from_=NUMBER, url=f"{BASE}/connect")
    assert [status for method, _path, status in provider.api_requests if method == "POST"] == [201, 429, 201]


def test_fail_next_fails_one_matching_request(api_client: Callable[[VoiceProvider], Client]) -> None:
    provider, _ = make_provider(record_app())
    client = api_client(provider)
    sid = provider.place_call(CALLER, speech=Speech(seconds=2, end="#")).recordings[0]
    provider.fail_next("GET", r"/Recordings/RE[0-9a-f]+\.json$", 503)
    with pytest.raises(TwilioRestException) as failed:
        client.recordings(sid).fetch()
    assert (failed.value.status, failed.value.code) == (503, 20503)
    assert client.recordings(sid).fetch().sid == sid


# --- retries -----------------------------------------------------------------------------------------


def counting_app() -> tuple[dict[str, Handler], list[str]]:
    seen: list[str] = []

    def incoming(params: dict[str, str]) -> str:
        seen.append(params["CallSid"])
        return twiml(lambda r: r.say(f"Attempt {len(seen)}."))

    return {"/voice/incoming": incoming}, seen


def test_redeliver_repeats_a_webhook_with_the_same_signature() -> None:
    routes, seen = counting_app()
    provider, transport = make_provider(routes)
    call = provider.place_call(CALLER)
    status, body = provider.redeliver(call.sid, 0)
    assert status == 200 and "Attempt 2." in body
    assert seen == [call.sid, call.sid] and transport.refused == 0
    first, again = transport.seen[0], transport.seen[-1]
    assert first == again  # same URL, params and headers (signature, idempotency token)
    assert call.webhooks[-1].params == call.webhooks[0].params


def test_retry_webhooks_posts_twice_and_follows_the_second_answer() -> None:
    routes, seen = counting_app()
    provider, transport = make_provider(routes)
    provider.retry_webhooks = True
    call = provider.place_call(CALLER)
    assert len(seen) == 2 and [h.text for h in call.heard] == ["Attempt 2."]
    assert [w.url.rsplit("/", 1)[1] for w in call.webhooks] == ["incoming", "incoming", "status", "status"]
    assert transport.seen[0][2]["I-Twilio-Idempotency-Token"] == transport.seen[1][2]["I-Twilio-Idempotency-Token"]


# --- invalid answers, limits -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ((500, "<html>Server Error</html>"), 11200),
        ((200, "<Response><Say>unclosed</Response>"), 12100),
        ((200, ""), 12100),
        ((200, "<Response><Say>Before</Say><Speak>Hello</Speak></Response>"), 12200),
        ((200, "<Response><Gather><Record/></Gather></Response>"), 12200),
        ((200, "<Response><Say>" + "a" * 66_000 + "</Say></Response>"), 11750),
    ],
)
def test_an_invalid_answer_is_an_application_error(answer: tuple[int, str], code: int) -> None:
    provider, _ = make_provider({"/voice/incoming": lambda _params: answer})
    call = provider.place_call(CALLER, presses=["1"])
    assert [e.code for e in call.errors] == [code] and call.errors[0].url == f"{BASE}/incoming"
    assert call.heard == [Heard("say", APPLICATION_ERROR_TEXT, "en-US", "caller")]
    assert call.status == "completed" and call.webhooks[-1].params["CallStatus"] == "completed"


def test_wrong_signature_is_refused_by_the_app() -> None:
    routes, seen = counting_app()
    provider, transport = make_provider(routes, token="another-token")
    call = provider.place_call(CALLER)
    assert seen == [] and transport.refused == 2  # the call and its status callback
    assert [e.code for e in call.errors if e.level == "error"] == [11200]


def test_say_loop_pause_and_the_say_length_limit() -> None:
    def incoming(_params: dict[str, str]) -> str:
        def build(r: VoiceResponse) -> None:
            r.say("Hello there.", loop=3)
            r.pause(length=4)
            r.say("x" * 4097)
            r.play("/audio/hold.mp3")

        return twiml(build)

    provider, _ = make_provider({"/voice/incoming": incoming})
    call = provider.place_call(CALLER)
    assert [h.text for h in call.heard] == ["Hello there."] * 3 + ["http://testserver/audio/hold.mp3"]
    assert call.heard[-1].verb == "play"
    assert [(e.code, e.level) for e in call.errors] == [(13521, "warning")]
    assert call.duration == pytest.approx(3 * 12 / 15 + 4 + provider.play_seconds)


def test_a_redirect_loop_is_stopped() -> None:
    provider, _ = make_provider({"/voice/incoming": lambda _p: twiml(lambda r: r.redirect("/voice/incoming"))})
    call = provider.place_call(CALLER)
    assert [e.code for e in call.errors] == [12400]


# --- transports --------------------------------------------------------------------------------------


class FactoryClient:
    """Stands in for django.test.Client: builds the request Django would see (RequestFactory takes
    the same arguments) and answers with empty TwiML."""

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self.extras: list[dict[str, Any]] = []

    def post(self, path: str, data: Any = None, content_type: str = "", **extra: Any) -> Any:
        self.requests.append(RequestFactory().post(path, data, content_type=content_type, **extra))
        self.extras.append(extra)

        class Response:
            status_code = 200
            content = b"<Response/>"

        return Response()


@pytest.mark.parametrize("url", ["https://testserver:8443/voice/in?lang=uk", "http://testserver/voice/in"])
def test_django_client_transport_gives_the_view_a_request_that_validates(url: str) -> None:
    client = FactoryClient()
    transport = DjangoClientTransport(client)  # type: ignore[arg-type]
    provider = VoiceProvider(ACCOUNT, TOKEN, NUMBER, url, None, transport)
    call = provider.place_call(CALLER)
    [request] = client.requests
    assert request.build_absolute_uri() == url
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.POST.dict() == call.webhooks[0].params
    signature = request.headers["X-Twilio-Signature"]
    assert RequestValidator(TOKEN).validate(request.build_absolute_uri(), request.POST, signature)
    assert client.extras[0]["HTTP_HOST"] == urlsplit(url).netloc
    assert call.status == "completed" and call.errors == []


def test_http_transport_posts_and_a_refused_connection_is_error_11205() -> None:
    provider, _ = make_provider({})
    provider.start_api()
    try:
        assert HttpTransport(timeout=5).post(provider.api_base + "/nothing", {"a": "1"}, {})[0] == 401
    finally:
        provider.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = VoiceProvider(ACCOUNT, TOKEN, NUMBER, f"http://127.0.0.1:{port}/voice", None, HttpTransport(timeout=5))
    call = closed.place_call(CALLER)
    assert [e.code for e in call.errors] == [11205] and call.webhooks[0].status_code == 0


@pytest.mark.parametrize(("reason", "status"), [("busy", "busy"), ("rejected", "no-answer")])
def test_reject_ends_the_call_unanswered(reason: str, status: str) -> None:
    provider, _ = make_provider({"/voice/incoming": lambda _p: twiml(lambda r: r.reject(reason=reason))})
    call = provider.place_call(CALLER)
    assert call.status == status and call.heard == []
    assert call.webhooks[-1].params["CallStatus"] == status and call.webhooks[-1].params["CallDuration"] == "0"
