"""Quality review over HTTP: checklists, reviews, the review page and a sample of
chats to review (core/quality.py; docs/reports.md "Scorecards and quality review").

Overseers keep the checklists, review (and correct or delete reviews) and draw
samples; an agent reads their own reviews only (policy.py closes the rest;
`list_reviews` narrows what an agent reads).
"""

from __future__ import annotations

from datetime import timedelta

import msgspec
from aiohttp import web

from appliance.core.clock import local_text
from appliance.core.quality import Quality, Reviewer
from appliance.core.store.quality import Checklist, Review
from appliance.webui.audit_views import admin_actor
from appliance.webui.console_views import staff, visible, whole_transcript
from appliance.webui.contract import Contract, Operation, read_body, read_query, reply
from appliance.webui.keys import BOX
from appliance.webui.pages import render
from appliance.webui.scorecard_views import SAMPLE_DAYS, oversees, today
from appliance.webui.security import current_session
from appliance.webui.team_views import int_path
from appliance.webui.wire import scorecards as wire
from appliance.webui.wire import wire_time
from appliance.webui.wire.team import Deleted

_TAG = "scorecards"
_OVERSEERS = "Supervisors and admins (else 403)."
_CHECKLIST_ID = {"checklist_id": wire.Id}
_REVIEW_ID = {"review_id": wire.Id}


def _quality(request: web.Request) -> Quality:
    return Quality(request.app[BOX].db)


def _checklist_out(found: Checklist) -> wire.ChecklistOut:
    return wire.ChecklistOut(
        found.id,
        found.name,
        found.version,
        [msgspec.convert(i, wire.ChecklistItem) for i in found.items],
    )


def _review_out(r: Review) -> wire.ReviewOut:
    return wire.ReviewOut(
        r.id,
        r.conversation_id,
        r.agent_id,
        r.agent_name,
        r.reviewer_name,
        r.checklist_name,
        r.checklist_version,
        [
            wire.ReviewedItem(
                str(i["label"]), int(i["points"]), bool(i["critical"]), int(i["given"])
            )
            for i in r.items
        ],
        r.score,
        r.critical_failed,
        r.comment,
        wire_time(r.chat_at),
        wire_time(r.created_at),
        wire_time(r.edited_at),
        r.editor_name,
        r.counts,
    )


async def review_page(request: web.Request) -> web.Response:
    """Show a finished chat's transcript beside a checklist to score it (overseers)."""
    session = current_session(request)
    conv = await visible(request, session)
    messages = await whole_transcript(request, conv.id)
    lines = [
        {"m": m, "time": local_text(m.created_at)[-5:]}
        for m in messages
        if m.sender_type != "system" and m.body
    ]
    return render(
        request,
        "quality_review.html",
        {"conv": conv, "lines": lines, "started": local_text(conv.created_at)},
    )


# -- checklists -------------------------------------------------------------------------


async def list_checklists(request: web.Request) -> web.Response:
    """Return every checklist at its current version."""
    found = await _quality(request).checklists()
    return reply(wire.Checklists([_checklist_out(c) for c in found]))


async def create_checklist(request: web.Request) -> web.Response:
    """Add a checklist."""
    body = await read_body(request, wire.ChecklistInput)
    made = await _quality(request).create_checklist(msgspec.to_builtins(body), admin_actor(request))
    return reply(wire.OneChecklist(_checklist_out(made)), 201)


async def change_checklist(request: web.Request) -> web.Response:
    """Change a checklist (its next version)."""
    body = await read_body(request, wire.ChecklistInput)
    changed = await _quality(request).update_checklist(
        int_path(request, "checklist_id"), msgspec.to_builtins(body), admin_actor(request)
    )
    return reply(wire.OneChecklist(_checklist_out(changed)))


async def delete_checklist(request: web.Request) -> web.Response:
    """Delete a checklist; reviews made with it stay as scored."""
    await _quality(request).delete_checklist(
        int_path(request, "checklist_id"), admin_actor(request)
    )
    return reply(Deleted(True))


# -- reviews ----------------------------------------------------------------------------


async def create_review(request: web.Request) -> web.Response:
    """Score a finished chat against a checklist."""
    session = current_session(request)
    body = await read_body(request, wire.ReviewInput)
    actor = await staff(request, session)
    conv = await request.app[BOX].chats.get_for(body.conversation_id, actor)
    user = session.user
    made = await _quality(request).review(
        conv,
        body.checklist_id,
        body.checklist_version,
        body.scores,
        body.comment,
        Reviewer(user.id, user.display_name, admin_actor(request)),
    )
    return reply(wire.OneReview(_review_out(made)), 201)


async def _own_review(request: web.Request) -> int:
    """Return the path's review id once the caller may see its chat (else 404)."""
    session = current_session(request)
    review_id = int_path(request, "review_id")
    found = await _quality(request).get_review(review_id)
    await request.app[BOX].chats.get_for(found.conversation_id, await staff(request, session))
    return review_id


async def change_review(request: web.Request) -> web.Response:
    """Correct a review's scores and comment against the items it was made with."""
    session = current_session(request)
    body = await read_body(request, wire.ReviewChange)
    review_id = await _own_review(request)
    user = session.user
    changed = await _quality(request).update_review(
        review_id,
        body.scores,
        body.comment,
        Reviewer(user.id, user.display_name, admin_actor(request)),
    )
    return reply(wire.OneReview(_review_out(changed)))


async def delete_review(request: web.Request) -> web.Response:
    """Delete a review; the chat's previous review, if any, counts again."""
    review_id = await _own_review(request)
    await _quality(request).delete_review(review_id, admin_actor(request))
    return reply(Deleted(True))


async def list_reviews(request: web.Request) -> web.Response:
    """Return reviews, newest first: an agent's own always; overseers any agent's or chat's."""
    session = current_session(request)
    query = read_query(request, wire.ReviewsQuery)
    agent_id = query.agent_id if oversees(session) else session.user.id
    found = await _quality(request).reviews(
        agent_id=agent_id, conversation_id=query.conversation_id
    )
    return reply(wire.Reviews([_review_out(r) for r in found]))


async def sample_chats(request: web.Request) -> web.Response:
    """Return n random finished chats of an agent that nobody has reviewed yet."""
    query = read_query(request, wire.SampleQuery)
    end = query.end or today()
    start = query.start or end - timedelta(days=SAMPLE_DAYS - 1)
    found = await _quality(request).sample(query.agent_id, start, end, query.n)
    return reply(
        wire.Sample(
            [
                wire.SampleChat(
                    c.id,
                    c.visitor_name,
                    c.agent_name or "",
                    wire_time(c.created_at),
                    wire_time(c.closed_at),
                    c.last_seq,
                )
                for c in found
            ]
        )
    )


_CHECKLISTS = "/api/console/qa/checklists"
_CHECKLIST = _CHECKLISTS + "/{checklist_id}"
_REVIEW = "/api/console/qa/reviews/{review_id}"
_CHECKLIST_HELP = (
    "1 to 30 items of 0-100 points; a critical item scored 0 fails the whole review "
    "(score 0). 422 codes: bad_name, bad_items, bad_label, bad_points."
)

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/console/history/{conv_id}/review",
            review_page,
            "Quality review of a finished chat: transcript beside the checklist (overseers)",
            "pages",
            media="text/html",
        ),
        Operation(
            "GET",
            _CHECKLISTS,
            list_checklists,
            "Quality checklists at their current versions",
            _TAG,
            wire.Checklists,
            errors=(401, 403),
            description=_OVERSEERS,
        ),
        Operation(
            "POST",
            _CHECKLISTS,
            create_checklist,
            "Add a quality checklist",
            _TAG,
            wire.OneChecklist,
            status=201,
            body=wire.ChecklistInput,
            errors=(401, 403, 409, 413, 422),
            description=f"{_OVERSEERS} Audited. {_CHECKLIST_HELP}",
        ),
        Operation(
            "PUT",
            _CHECKLIST,
            change_checklist,
            "Change a quality checklist (its next version)",
            _TAG,
            wire.OneChecklist,
            body=wire.ChecklistInput,
            path_types=_CHECKLIST_ID,
            errors=(401, 403, 404, 413, 422),
            description=f"{_OVERSEERS} Audited. Reviews already made keep the items, "
            f"version and score they were made with. {_CHECKLIST_HELP}",
        ),
        Operation(
            "DELETE",
            _CHECKLIST,
            delete_checklist,
            "Delete a quality checklist",
            _TAG,
            Deleted,
            path_types=_CHECKLIST_ID,
            errors=(401, 403, 404),
            description=f"{_OVERSEERS} Audited; its reviews stay.",
        ),
        Operation(
            "GET",
            "/api/console/qa/reviews",
            list_reviews,
            "Quality reviews, newest first",
            _TAG,
            wire.Reviews,
            query=wire.ReviewsQuery,
            errors=(401, 422),
            description="Overseers: any agent's or chat's; an agent: always their own. "
            "Of a chat reviewed more than once, only the review saved last counts in the "
            "scores (`counts`); the earlier ones are listed too.",
        ),
        Operation(
            "POST",
            "/api/console/qa/reviews",
            create_review,
            "Score a finished chat against a checklist",
            _TAG,
            wire.OneReview,
            status=201,
            body=wire.ReviewInput,
            errors=(401, 403, 404, 409, 413, 422),
            description=f"{_OVERSEERS} Audited. One score per item, 0 to its points, in "
            "order; 409 checklist_changed when the checklist moved on from the version "
            "scored, 409 conflict for a chat not finished; 422 bad_scores, bad_comment.",
        ),
        Operation(
            "PUT",
            _REVIEW,
            change_review,
            "Correct a quality review's scores and comment",
            _TAG,
            wire.OneReview,
            body=wire.ReviewChange,
            path_types=_REVIEW_ID,
            errors=(401, 403, 404, 413, 422),
            description=f"{_OVERSEERS} Audited (qa_review.update, with the scores before). "
            "One score per item of the review's own copy of the checklist (the version it "
            "was made with), 0 to its points, in order; 422 bad_scores, bad_comment. "
            "404 for an unknown review.",
        ),
        Operation(
            "DELETE",
            _REVIEW,
            delete_review,
            "Delete a quality review",
            _TAG,
            Deleted,
            path_types=_REVIEW_ID,
            errors=(401, 403, 404),
            description=f"{_OVERSEERS} Audited (qa_review.delete, with what it held). The "
            "chat's previous review, if any, counts again.",
        ),
        Operation(
            "GET",
            "/api/console/qa/sample",
            sample_chats,
            "A random sample of an agent's finished chats nobody has reviewed",
            _TAG,
            wire.Sample,
            query=wire.SampleQuery,
            errors=(401, 403, 422),
            description=f"{_OVERSEERS} Chats offered on start..end (the box's zone; "
            "default the last 7 days, at most 366 days), n from 1 to 50.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the quality review's routes."""
    CONTRACT.install(app)
