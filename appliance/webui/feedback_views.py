"""Satisfaction at the end of a chat (the visitor rates it, asks for the transcript;
consoles read it)."""

from __future__ import annotations

from aiohttp import web

from appliance.core.ratelimit import RateLimited
from appliance.webui.console_views import visible
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX
from appliance.webui.security import current_session
from appliance.webui.visitor_views import visitor_actor
from appliance.webui.wire import feedback as wire


def _spend(request: web.Request) -> None:
    """Count a rating or request against the visitor's message allowance."""
    box = request.app[BOX]
    actor = visitor_actor(request)
    wait = box.limits.message_wait(actor.id, actor.address)
    if wait > 0:
        raise RateLimited(wait)
    box.limits.message_spent(actor.id, actor.address)


async def rate_chat(request: web.Request) -> web.Response:
    """Rate the visitor's ended chat, or change the rating within its window."""
    actor = visitor_actor(request)
    data = await read_body(request, wire.NewChatRating)
    _spend(request)
    found, new = await request.app[BOX].ratings.rate(
        request.match_info["conv_id"], actor, data.score, data.comment
    )
    return reply(wire.OneChatFeedback(wire.feedback_out(found)), 201 if new else 200)


async def request_transcript(request: web.Request) -> web.Response:
    """Keep the visitor's request for the transcript of their ended chat by e-mail."""
    actor = visitor_actor(request)
    data = await read_body(request, wire.NewChatTranscriptRequest)
    _spend(request)
    found, new = await request.app[BOX].ratings.request_transcript(
        request.match_info["conv_id"], actor, data.email
    )
    return reply(wire.OneChatFeedback(wire.feedback_out(found)), 201 if new else 200)


async def chat_feedback(request: web.Request) -> web.Response:
    """Return what the visitor said of a chat the console user may see."""
    conv = await visible(request, current_session(request))
    found = await request.app[BOX].ratings.of(conv)
    return reply(wire.OneChatFeedback(wire.feedback_out(found)))


_RATED = "201: the first time; 200: changed. "

CONTRACT = Contract(
    [
        Operation(
            "POST",
            "/api/visitor/conversations/{conv_id}/rating",
            rate_chat,
            "Rate the visitor's ended chat (1-5, optional comment), or change the rating",
            "visitor",
            wire.OneChatFeedback,
            body=wire.NewChatRating,
            also={201: wire.OneChatFeedback},
            errors=(401, 404, 409, 413, 422, 429),
            description=_RATED + "409 not_ended: the chat is still open; 409 rating_closed: "
            "it ended more than 24 hours ago. 404: not the visitor's conversation. Counts "
            "against the visitor's message rate limit.",
        ),
        Operation(
            "POST",
            "/api/visitor/conversations/{conv_id}/transcript",
            request_transcript,
            "Ask for the ended chat's transcript by e-mail (kept as a request for now)",
            "visitor",
            wire.OneChatFeedback,
            body=wire.NewChatTranscriptRequest,
            also={201: wire.OneChatFeedback},
            errors=(401, 404, 409, 413, 422, 429),
            description=_RATED + "The box does not send e-mail yet: the request and the "
            "address are kept and shown to agents. Same windows and limits as the rating.",
        ),
        Operation(
            "GET",
            "/api/console/conversations/{conv_id}/feedback",
            chat_feedback,
            "The visitor's rating and transcript request of a chat",
            "console",
            wire.OneChatFeedback,
            errors=(401, 404),
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the feedback routes."""
    CONTRACT.install(app)
