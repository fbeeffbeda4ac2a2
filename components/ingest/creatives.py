"""Creatives of a run: each distinct one fetched once, in parallel, and turned into model input once.

Rows do not carry a creative's file: they carry its model input, the small lossless PNG that
`trainer.images.thumbnails` computes with the serving graph's own function, at most
``image_size`` x ``image_size`` x 3 bytes of pixels whatever the file's size. Fetching is the
slow part against GCS (tens of ms a request), so `fetch_in_order` keeps a bounded number of
requests in flight on a thread pool, and yields results in input order, each as it is ready,
so memory holds at most `workers` files at a time.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from trainer import images
from trainer.features import FeatureRegistry, Kind
from trainer.rows import MISSING_CREATIVE, UNDECODABLE_IMAGE, Rejected

# Requests in flight per worker: GCS serves many in parallel; a local folder does not mind.
DEFAULT_FETCH_WORKERS = 32
# Creatives decoded by one call of the thumbnail graph: as many as are fetched ahead, so the next
# batch is being fetched while this one is decoded (the decoder lets the fetch threads run).
DECODE_BATCH = DEFAULT_FETCH_WORKERS


@dataclass(frozen=True)
class Creative:
    """A creative as rows carry it: its model input, the key training rows name that input by
    (`trainer.images.thumbnail_key`) and its content digest, or why rows naming it are
    quarantined."""

    thumbnail: bytes | None
    digest: str = ""
    rejected: Rejected | None = None
    key: bytes = b""


def fetch_pool(workers: int = DEFAULT_FETCH_WORKERS) -> ThreadPoolExecutor:
    """A thread pool for `fetch_in_order`, to keep across calls (starting 32 threads for every
    batch of creatives cost more than a tenth of ingestion's time on 100,000 of them)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch-creative")


def fetch_in_order(names: Iterable[str], fetch: Callable[[str], bytes | None],
                   workers: int = DEFAULT_FETCH_WORKERS,
                   pool: ThreadPoolExecutor | None = None) -> Iterator[tuple[str, bytes | None]]:
    """Each name with its object's bytes (None when missing), in the order given.

    At most `workers` fetches are asked for at once, and no more than `workers` results wait to
    be taken, so memory holds at most `workers` creatives whatever the number of names. `pool`
    (a `fetch_pool` of `workers` threads, kept by the caller) is used when given, else one is
    started for this call.

    Raises:
        Whatever `fetch` raises (after its own retries), for the first name it failed on.
    """
    if pool is None:
        with fetch_pool(workers) as own:
            yield from fetch_in_order(names, fetch, workers, own)
        return
    pending: collections.deque[tuple[str, Future]] = collections.deque()
    try:
        for name in names:
            if len(pending) >= workers:
                done, future = pending.popleft()
                yield done, future.result()
            pending.append((name, pool.submit(fetch, name)))
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        # Abandoned (an error, or the reader stopped): nothing left queued on a kept pool.
        for _, future in pending:
            future.cancel()


def prepare_creatives(names: Iterable[str], fetch: Callable[[str], bytes | None], size: int,
                      workers: int = DEFAULT_FETCH_WORKERS,
                      pool: ThreadPoolExecutor | None = None) -> Iterator[tuple[str, Creative]]:
    """The creatives named, fetched in parallel and each distinct content decoded once.

    Files are decoded in batches of `DECODE_BATCH` as they arrive, so memory holds at most
    `workers` files in flight and one batch being decoded, plus the thumbnails.

    Args:
        names: creative paths relative to the source, each once.
        fetch: an object's bytes by name, None when it does not exist.
        size: the model's image size.
        workers: fetches in flight at most.
        pool: the `fetch_pool` to fetch on; one for this call when None.

    Yields:
        Per name, in order: its `Creative` (a missing one, or one the model cannot take, with
        the reason rows naming it are quarantined for).
    """
    # Content, not name, decides: equal bytes under two names are decoded once.
    made: dict[str, bytes | str] = {}
    batch: list[tuple[str, _Fetched | None]] = []
    for item in fetch_in_order(names, functools.partial(_fetched, fetch), workers, pool):
        batch.append(item)
        if len(batch) == DECODE_BATCH:
            yield from _prepared(batch, made, size)
            batch = []
    yield from _prepared(batch, made, size)


@dataclass(frozen=True)
class _Fetched:
    data: bytes
    digest: str
    problem: str | None


def _fetched(fetch: Callable[[str], bytes | None], name: str) -> _Fetched | None:
    # On a fetch thread: hashing (which lets go of the GIL) and the header check run there, beside
    # the decoding of the batch before, instead of between decodes.
    data = fetch(name)
    if data is None:
        return None
    return _Fetched(data, images.content_digest(data), images.header_problem(data))


def _prepared(batch: list[tuple[str, _Fetched | None]], made: dict[str, bytes | str],
              size: int) -> Iterator[tuple[str, Creative]]:
    new = {fetched.digest: fetched for _, fetched in batch if fetched is not None and fetched.digest not in made}
    made.update(zip(new, images.thumbnails([f.data for f in new.values()], size,
                                           [f.problem for f in new.values()]), strict=True))
    for name, fetched in batch:
        if fetched is None:
            yield name, Creative(None, rejected=Rejected(MISSING_CREATIVE, f"no creative {name}"))
            continue
        thumbnail = made[fetched.digest]
        if isinstance(thumbnail, str):
            yield name, Creative(None, fetched.digest, Rejected(UNDECODABLE_IMAGE, f"{name}: {thumbnail}"))
        else:
            yield name, Creative(thumbnail, fetched.digest, key=images.thumbnail_key(thumbnail))


def stored_creatives_fingerprint(storage, registry: FeatureRegistry) -> str:
    """A digest of every object under the image features' fixed prefixes (e.g. ``creatives/``):
    name and content digest (size and generation where the store keeps no digest). Part of the
    cache key, so a run over the same month after a creative changed reads it again."""
    import hashlib

    digest = hashlib.sha256()
    prefixes = sorted({feature.uri_template.split("{")[0] for feature in registry.of_kind(Kind.IMAGE)})
    for prefix in prefixes:
        for info in storage.list(prefix):
            content = info.digest or f"{info.size}:{info.generation}"
            digest.update(f"{info.name}\t{content}\n".encode())
    return digest.hexdigest()
