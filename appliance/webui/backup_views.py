"""The admin API of backups: settings, the emergency key, "back up now", archives and
restores (LAN only by default, admins only; the page part is admin_backups.html)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
from aiohttp import web

from appliance.core.backup import Backups
from appliance.core.backup_schedule import read_name
from appliance.webui.audit_views import admin_actor
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX, RESTART
from appliance.webui.wire import backups as wire
from appliance.webui.wire import wire_time

_UPLOAD_MAX = 64 * 1024**3  # bytes of an uploaded archive (the disk is the real bound)
_UPLOAD_CHUNK = 1024 * 1024  # bytes read from the socket at a time
_RUNS_SHOWN = 10


def _backups(request: web.Request) -> Backups:
    return request.app[BOX].backups


async def state(backups: Backups) -> wire.BackupState:
    """Return everything the admin page shows of backups."""
    settings = backups.settings
    return wire.BackupState(
        box=backups.box,
        key=wire.KeyState(
            ready=bool(settings.recipient),
            recipient=settings.recipient,
            created_at=wire_time(settings.key_created_at),
        ),
        settings=wire.settings_out(settings, str(backups.local_dir)),
        targets=[t.kind for t in backups.targets()],  # type: ignore[misc]
        next_run=wire.next_run_out(backups.next_run()),
        job=wire.job_out(backups.job) if backups.job is not None else None,
        runs=[wire.run_out(r) for r in await backups.runs(_RUNS_SHOWN)],
        restore=wire.restore_out(backups.restore_status()),
        restore_pending=backups.restore_pending(),
        upload_ready=backups.upload_ready(),
    )


async def get_backups(request: web.Request) -> web.Response:
    """Return the backup settings, key state, the job in progress and recent runs."""
    return reply(await state(_backups(request)))


async def put_settings(request: web.Request) -> web.Response:
    """Change some backup settings."""
    change = await read_body(request, wire.BackupSettingsChange)
    backups = _backups(request)
    fields = msgspec.to_builtins(change)
    await backups.change(fields)
    # Which fields changed, never their values (a WebDAV password is one).
    await request.app[BOX].audit.add(
        admin_actor(request), "backup.settings", "", {"fields": sorted(fields)}
    )
    return reply(await state(backups))


async def post_key(request: web.Request) -> web.Response:
    """Make the backup key; the answer is the only place its secret half appears."""
    ask = await read_body(request, wire.NewKeyRequest)
    backups = _backups(request)
    keys = await backups.new_key(replace=ask.replace)
    await request.app[BOX].audit.add(
        admin_actor(request), "backup.new_key", "", {"recipient": keys.recipient}
    )
    created = backups.settings.key_created_at
    assert created is not None
    answer = reply(wire.NewKey(keys.identity, keys.recipient, backups.box, wire_time(created)), 201)
    answer.headers["Cache-Control"] = "no-store"  # the key must not outlive this page
    return answer


async def post_run(request: web.Request) -> web.Response:
    """Start a backup now."""
    job = _backups(request).start_backup("manual")
    await request.app[BOX].audit.add(admin_actor(request), "backup.run")
    return reply(wire.job_out(job), 202)


async def get_archives(request: web.Request) -> web.Response:
    """List the archives on every target."""
    found, errors = await _backups(request).archives()
    archives = []
    for kind, stored in found:
        named = read_name(stored.name)
        made = int(named.made.timestamp() * 1000) if named is not None else None
        archives.append(wire.Archive(kind, stored.name, stored.size, wire_time(made)))  # type: ignore[arg-type]
    problems = [wire.TargetProblem(kind, error) for kind, error in errors]  # type: ignore[arg-type]
    return reply(wire.Archives(archives, problems))


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    # Streamed past the app's client_max_size, which bounds only read(), post(), json().
    size = 0
    async for chunk in request.content.iter_chunked(_UPLOAD_CHUNK):
        size += len(chunk)
        if size > _UPLOAD_MAX:
            raise web.HTTPRequestEntityTooLarge(max_size=_UPLOAD_MAX, actual_size=size)
        yield chunk


async def post_upload(request: web.Request) -> web.Response:
    """Store an uploaded archive (the raw body) for a restore."""
    length = request.content_length
    if length is not None and length > _UPLOAD_MAX:
        raise web.HTTPRequestEntityTooLarge(max_size=_UPLOAD_MAX, actual_size=length)
    size = await _backups(request).save_upload(_body(request))
    await request.app[BOX].audit.add(admin_actor(request), "backup.upload", "", {"size": size})
    return reply(wire.Upload(size), 201)


async def post_restore(request: web.Request) -> web.Response:
    """Check an archive; once it passes, the box restarts onto it."""
    ask = await read_body(request, wire.RestoreRequest)
    actor = admin_actor(request)
    job = _backups(request).start_restore(
        ask.key,
        ask.source,
        ask.name,
        on_ready=request.app[RESTART][0],
        asked_by=(actor.name, actor.address),
    )
    # The ask is recorded here, in the database the restore replaces (kept with the
    # previous data); the restored box records the switch in its own log as it starts.
    await request.app[BOX].audit.add(
        actor, "backup.restore", ask.name or "", {"source": ask.source}
    )
    return reply(wire.job_out(job), 202)


async def delete_previous(request: web.Request) -> web.Response:
    """Delete the data the last restore replaced."""
    status = await _backups(request).remove_previous()
    await request.app[BOX].audit.add(admin_actor(request), "backup.remove_previous")
    restored = wire.restore_out(status)
    assert restored is not None
    return reply(restored)


_ADMINS = "Admins only (else 403), from the LAN only."
_TAG = "admin"

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/admin/backups",
            get_backups,
            "Backup settings, key state, the job in progress, recent runs, the last restore",
            _TAG,
            wire.BackupState,
            errors=(401, 403),
            description=f"{_ADMINS} `job.progress` counts bytes of the phase it names "
            "(snapshot, archive, upload:TARGET, prune:TARGET; for a restore download:TARGET, "
            "decrypt, check, restart).",
        ),
        Operation(
            "PUT",
            "/api/admin/backups/settings",
            put_settings,
            "Change backup settings",
            _TAG,
            wire.BackupState,
            body=wire.BackupSettingsChange,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} Any subset of the fields. 422 (and nothing changes) for "
            "a time that is not HH:MM, a local folder that is not absolute, inside the "
            "data folder or not writable, or a WebDAV address that is not http(s) or "
            "holds a user or password. `webdav_url` '' removes the WebDAV target and its "
            "credentials; `webdav_password` '' removes the password. The password is "
            "stored sealed and never answered.",
        ),
        Operation(
            "POST",
            "/api/admin/backups/key",
            post_key,
            "Make the backup key (the emergency kit)",
            _TAG,
            wire.NewKey,
            status=201,
            body=wire.NewKeyRequest,
            errors=(401, 403, 409, 413, 422),
            description=f"{_ADMINS} The answer holds the key (`identity`) once: the box "
            "keeps only the recipient, so archives can be made but not opened on it. "
            "409 `key_exists` unless `replace` is true (archives made before need the old "
            "key), 409 `busy` while a backup or restore runs.",
        ),
        Operation(
            "POST",
            "/api/admin/backups/run",
            post_run,
            "Back up now",
            _TAG,
            wire.Job,
            status=202,
            errors=(401, 403, 409, 422),
            description=f"{_ADMINS} Starts a backup and answers at once; follow it with "
            "GET /api/admin/backups. 409 `busy` while one runs, 422 `no_key` before the key "
            "is made.",
        ),
        Operation(
            "GET",
            "/api/admin/backups/archives",
            get_archives,
            "The archives on every target",
            _TAG,
            wire.Archives,
            errors=(401, 403),
            description=f"{_ADMINS} A target that cannot be listed is named in `errors`.",
        ),
        Operation(
            "POST",
            "/api/admin/backups/upload",
            post_upload,
            "Upload an archive to restore from",
            _TAG,
            wire.Upload,
            status=201,
            upload=("application/octet-stream",),
            errors=(401, 403, 409, 413, 422),
            description=f"{_ADMINS} The body is the archive itself, read as a stream. It "
            "replaces an earlier upload; 422 `not_a_backup` when it does not begin as an "
            "age file does, else it is checked by the restore. 409 `busy` while a backup "
            "or restore runs.",
        ),
        Operation(
            "POST",
            "/api/admin/backups/restore",
            post_restore,
            "Restore from an archive",
            _TAG,
            wire.Job,
            status=202,
            body=wire.RestoreRequest,
            errors=(401, 403, 404, 409, 413, 422),
            description=f"{_ADMINS} Decrypts the archive with the key, unpacks it beside "
            "the live data and checks it (tar, manifest, `PRAGMA integrity_check`, a schema "
            "this version knows). The job fails with `code` wrong_key, damaged, "
            "not_a_backup, db_damaged or newer_version and nothing is replaced; once it "
            "passes, the box restarts onto it and keeps the data it replaced in "
            "`restore-previous-…`. 422 `key_invalid` for text that holds no age key, 404 "
            "with no upload or no such target.",
        ),
        Operation(
            "DELETE",
            "/api/admin/backups/previous",
            delete_previous,
            "Delete the data the last restore replaced",
            _TAG,
            wire.Restore,
            errors=(401, 403, 404),
            description=f"{_ADMINS} Only after the restored box has started. 404 when "
            "there is none.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the backup routes."""
    CONTRACT.install(app)
