"""What happens after the shutter, run on a reconstruction thread (never on the event loop).

``take()`` stores the original, then streams the display stages as they are ready through
``emit`` (in order: the intention and rule, then original → placeholder → previews →
reconstruction) and records the reconstruction. See ``capture.protocol`` for the messages.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections
from django.http import Http404
from django.urls import reverse

from reconstruction import cpu, plans
from reconstruction.core import identity
from reconstruction.core.besttake import face_data, kept_take, take_crop
from reconstruction.core.elements import BY_NAME
from reconstruction.core.extraction import thread_analyzer
from reconstruction.core.imageio import FrameError, encode_jpeg, jpeg_size
from reconstruction.core.selfcheck import shared_checks
from reconstruction.core.smallfaces import seen

from . import processes, protocol, services
from .groups import user_group
from .live import analyze_jpeg

log = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_warming: list[Future] = []  # each reconstruction thread loading what a shot needs
_lock = threading.Lock()


def _warm() -> None:
    """Everything a shot needs loaded in this process (and this thread's analyser)."""
    thread_analyzer()
    shared_checks().warm()  # the self-check's judges take about two seconds to load
    identity.warm()  # and every face's identity, read at a group shot
    import torch

    # The web process only runs small models, one shot at a time per thread: one thread each is
    # faster than a team that spins against the live analysis for the same two cores.
    torch.set_num_threads(1)


def reconstruction_pool() -> ThreadPoolExecutor:
    """A small pool of its own, so a reconstruction never waits behind live frames (and the
    reverse); shots queue here one after another instead of competing for the cores."""
    global _pool
    # Before this process develops its first shot, it says it is alive (capture.processes).
    processes.keep_alive()
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.FLUX_RECONSTRUCTION_THREADS, thread_name_prefix="flux-reconstruct"
            )
            _warming[:] = [_pool.submit(_warm) for _ in range(settings.FLUX_RECONSTRUCTION_THREADS)]
    return _pool


def warmed() -> None:
    """Start the reconstruction threads if need be and wait until each has loaded what a shot
    needs; raises what loading raised (a missing model file)."""
    reconstruction_pool()
    for loading in list(_warming):
        loading.result()


class FairShots:
    """The reconstruction threads, shared fairly between users: shots wait in one queue per user
    and the threads take them user by user in turn, so a burst from one user delays that user's
    own shots and not everyone's. A user may have at most ``limit`` shots waiting or developing;
    ``submit`` answers None beyond that (the caller says "busy" and saves nothing)."""

    def __init__(self, pool: ThreadPoolExecutor, limit: int):
        self.pool, self.limit = pool, limit
        self.lock = threading.Lock()
        self.waiting: dict[object, deque] = {}  # user -> [(job, future)], oldest first
        self.served: dict[object, int] = {}  # user -> when a shot of theirs last started (a counter)
        self.clock = 0
        self.pending: Counter = Counter()  # user -> shots waiting or developing

    def submit(self, user_key, job: Callable[[], object]) -> Future | None:
        future: Future = Future()
        with self.lock:
            if self.pending[user_key] >= self.limit:
                return None
            self.pending[user_key] += 1
            self.waiting.setdefault(user_key, deque()).append((job, future))
        self.pool.submit(self._run_next)
        return future

    def pending_for(self, user_key) -> int:
        with self.lock:
            return self.pending[user_key]

    def _run_next(self) -> None:
        with self.lock:
            # The user served least recently goes first (one who never was, before anyone).
            user_key = min(self.waiting, key=lambda u: self.served.get(u, -1))
            queue = self.waiting[user_key]
            job, future = queue.popleft()
            if not queue:
                del self.waiting[user_key]
            self.served[user_key], self.clock = self.clock, self.clock + 1
        try:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as exc:  # the waiting socket reports it
                    future.set_exception(exc)
        finally:
            with self.lock:
                self.pending[user_key] -= 1
                if self.pending[user_key] <= 0:
                    del self.pending[user_key]
                    self.served.pop(user_key, None)


_fair: FairShots | None = None


def fair_shots() -> FairShots:
    """The process's shared, fair queue in front of ``reconstruction_pool``."""
    global _fair
    pool = reconstruction_pool()
    with _lock:
        if _fair is None or _fair.pool is not pool:
            _fair = FairShots(pool, settings.FLUX_MAX_PENDING_SHOTS)
    return _fair


def _data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def shot_json(shot) -> dict:
    return {
        "id": str(shot.id),
        "created_at": shot.created_at.isoformat(),
        "width": shot.width,
        "height": shot.height,
        "elements": shot.elements,
        "faces": shot.faces,
        "url": reverse("capture:shot-original", args=[shot.id]),
    }


def take(
    user, jpeg: bytes, emit: Callable[[dict], None], chosen: str | None = None, wish: str | None = None, recent=()
) -> None:
    """Analyse and store the shot, then develop it. Errors reach the user through ``emit``."""
    try:
        try:
            rgb, analysis = analyze_jpeg(jpeg, around=_seen_before(recent))
        except FrameError as exc:
            emit(protocol.error(exc.code, f"the shot was not saved: {exc}"))
            return
        except Exception:
            log.exception("shot analysis failed")
            emit(protocol.error("shot_failed", "the shot could not be analysed and was not saved; try again"))
            return
        try:
            shot = services.save_shot(
                user,
                jpeg,
                analysis.to_json(),
                status=services.Shot.PROCESSING,
                developer=processes.me(),
                asked={"intention": chosen, "wish": wish},
            )
        except Exception:
            log.exception("could not save a shot")
            emit(protocol.error("shot_failed", "the shot could not be saved; try again"))
            return
        emit(protocol.shot_saved(shot_json(shot)))
        try:
            develop(user, shot, rgb, analysis, thread_analyzer(), emit, chosen=chosen, wish=wish, recent=recent)
        except Exception as exc:
            _failed(shot, exc, emit)
    finally:
        close_old_connections()


def _seen_before(recent) -> tuple:
    """The faces of the stream's last frame before the shutter, (x, y, w, h) over its size: the
    shot's small faces are looked for where they were (the whole frame misses them)."""
    if not recent:
        return ()
    last = recent[-1]
    return seen(last.faces, last.width, last.height)


def _failed(shot, exc: Exception, emit: Callable[[dict], None], again: bool = False) -> None:
    """A shot whose development raised: the original stays the photo, the page is told, and the
    shot's page offers to develop it again."""
    log.exception("%s shot %s failed", "developing again" if again else "developing", shot.pk)
    message = f"the reconstruction failed{' again' if again else ''} ({type(exc).__name__}); the original is kept as the photo"
    services.mark_shot_failed(shot, message)
    emit(protocol.error("reconstruction_failed", message, shot=str(shot.id)))


def to_pages(user_id) -> Callable[[dict], None]:
    """An ``emit`` for a shot no socket waits on (developed again from its page): the recorded
    photo and a failure reach every shooting page of the user, as a shot from another page does."""
    layer = get_channel_layer()

    def emit(message: dict) -> None:
        if message["type"] == "recorded":
            event = {"type": "shot.recorded", "recorded": message, "origin": None}
        elif message["type"] == "error" and message.get("shot"):
            event = {"type": "shot.failed", "shot": message["shot"], "message": message["message"]}
        else:
            return
        async_to_sync(layer.group_send)(user_group(user_id), event)

    return emit


def develop_again(user, shot_id, take: tuple[int, str, int] | None = None) -> None:
    """Develop a shot again from its stored original (``services.develop_again`` or, for ``take``,
    ``services.choose_take`` took it back), asking what its shutter asked; run on a reconstruction
    thread. ``take``: (face, part, index) of the kept best take the user picked for one face of a
    group; every other face goes through the same checks again, and the pick then counts as the
    user's verdict (the recorded photo is the one they want)."""
    emit = to_pages(user.pk)
    try:
        shot = services.get_shot(user, shot_id)
        try:
            with shot.original.open("rb") as f:
                jpeg = f.read()
            rgb, analysis = analyze_jpeg(jpeg, around=[face["box"] for face in shot.faces or ()])
            develop(
                user,
                shot,
                rgb,
                analysis,
                thread_analyzer(),
                emit,
                chosen=shot.asked.get("intention"),
                wish=shot.asked.get("wish"),
                takes=_kept(shot) if take else None,
                choose={take[0]: {take[1]: take[2]}} if take else None,
            )
            if take:
                services.give_feedback(user, shot_id, "accepted")
        except Exception as exc:
            _failed(shot, exc, emit, again=True)
    except Http404:
        pass  # deleted meanwhile
    finally:
        close_old_connections()


def _kept(shot) -> dict:
    """The best takes a group shot kept, face -> part -> takes, ready to be blended again."""
    given: dict = {}
    for row in services.takes_of(shot):
        with row.image.open("rb") as f:
            crop = f.read()
        take = kept_take(crop, row.face_data, row.age, row.part, *(jpeg_size(crop) or (1, 1)))
        given.setdefault(row.face, {}).setdefault(row.part, []).append(take)
    return given


def develop(
    user,
    shot,
    rgb,
    analysis,
    analyzer,
    emit: Callable[[dict], None],
    chosen=None,
    wish=None,
    recent=(),
    takes=None,
    choose=None,
) -> None:
    """Intention → rule → stages, streamed in display order; the reconstruction is recorded.
    ``recent``: the frames the socket streamed in the seconds before the shutter; ``takes`` and
    ``choose``: the best takes the shot kept and the one the user picked (developed again)."""
    with cpu.developing():  # a training run on this machine waits meanwhile
        _develop(user, shot, rgb, analysis, analyzer, emit, chosen, wish, recent, takes, choose)


def _develop(user, shot, rgb, analysis, analyzer, emit, chosen, wish, recent, takes=None, choose=None) -> None:
    attempts = services.attempts_at_scene(user, shot)
    plan = plans.plan_for(
        user, analysis, chosen=chosen, wish=wish, attempts=attempts, rgb=rgb, takes=takes, choose=choose
    )
    summary = plan.to_json()
    shot_id = str(shot.id)
    emit(protocol.plan(shot_id, summary))
    shown: list[dict] = []
    previews: dict[int, bytes] = {}
    for index, stage in enumerate(plan.stages(rgb, analysis, analyzer, recent)):
        record = {"index": index, **stage.to_json()}
        message = protocol.stage(shot_id, record)
        shown.append(record)
        if stage.kind == "reconstruction":
            made = bool(stage.groups)
            # Whose faces lent pixels, for the models that ran (also one the self-check then left out).
            record["exemplars"] = {g: r["exemplar"] for g, r in plan.reports.items() if "exemplar" in r}
            # Each person's best take: what each face missed, what was taken, what was left and why.
            if "faces" in plan.reports:
                record["faces"] = message["faces"] = plan.reports["faces"]["faces"]
            note = _message(plan, stage)
            recorded = encode_jpeg(stage.image, quality=plans.RECORDED_QUALITY) if made else None
            message |= {
                "recorded": "reconstruction" if made else "original",
                "url": reverse("capture:shot-recorded", args=[shot.id]),
                "page": reverse("capture:shot", args=[shot.id]),
                "message": note,
                "image": _data_url(recorded) if made else None,
            }
            # The page hears of it first: recording (files, rows) happens after the send.
            emit(message)
            kept = services.record_reconstruction(
                shot,
                recorded,
                summary,
                shown,
                stage.degrees if made else {},
                note,
                previews,
                services.thumbnail_jpeg(stage.image),
                takes=kept_takes(plan) if takes is None else None,
            )
            if kept is None:
                emit(
                    protocol.error(
                        "shot_deleted", "the shot was deleted while it developed; nothing was recorded", shot=shot_id
                    )
                )
                return
            emit(protocol.recorded(shot_id, message["recorded"], message["url"]))
            return
        if stage.kind == "preview":
            previews[index] = encode_jpeg(stage.image, quality=88)
            message["image"] = _data_url(previews[index])
        emit(message)


def kept_takes(plan) -> list[dict]:
    """Every take the best takes found, as the shot keeps them: a crop of its frame around the face,
    and the face over the crop (``besttake.take_crop``)."""
    model = plan.models.get("faces")
    if model is None or model.last is None:
        return []
    out = []
    for face in model.last.faces:
        for k, take in enumerate(face.takes):
            crop, crop_face = take_crop(take)
            out.append(
                {
                    "face": face.index,
                    "index": k,
                    "part": take.part,
                    "age": take.age,
                    "jpeg": encode_jpeg(crop, quality=92),
                    "face_data": face_data(crop_face),
                }
            )
    return out


def _listed(numbers: list[int]) -> str:
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def face_taken(face: dict) -> str:
    """What a face of a group was given, in words: "face 2: eyes from 1.2 s before"."""
    lent = [f"{part} from {face['takes'][k]['age']:.1f} s before" for part, k in face["chosen"].items()]
    return f"face {face['index'] + 1}: " + " and ".join(lent)


def _message(plan, stage) -> str:
    if not plan.rule.steps:
        if plan.damaged:
            return "; ".join(plan.damaged.values()) + "; the original is recorded."
        if not plan.trained:
            return "No models yet: the original is recorded. Train your models on \u201cMy models\u201d."
        return "Nothing to change for this intention: the original is recorded."
    parts = []
    # What an edit that was made kept as shot, and why (a gentler edit than asked).
    for group, report in plan.reports.items():
        if group in stage.groups:
            parts.extend(report.get("kept", ()))
    # A group: who took what, and who stayed as shot (each face's reason is on the shot page).
    faces = (plan.reports.get("faces") or {}).get("faces", ())
    taken = [f for f in faces if f["chosen"]]
    left = [f["index"] + 1 for f in faces if f["left"] and not f["chosen"]]
    if left:
        parts.insert(0, f"face{'s' if len(left) > 1 else ''} {_listed(left)} left as shot (why: on the shot page)")
    if taken:
        parts.insert(0, "; ".join(face_taken(f) for f in taken))
    for r in stage.raised:
        label = BY_NAME[r["element"]].label.lower()
        parts.append(f"a bigger {label} was asked ({r['from']:.2f} \u2192 {r['to']:.2f}): {r['why']}")
    for left in stage.left_out:
        parts.append(f"the {left['group']} edit was left out: {left['why']}")
    if stage.left_out and not stage.groups:
        parts.append("the original is recorded")
    if stage.failed:
        parts.append("; ".join(f"the {f['group']} model was not applied ({f['reason']})" for f in stage.failed))
        parts.append("the others' edits are recorded" if stage.groups else "the original is recorded")
    return "; ".join(parts)
