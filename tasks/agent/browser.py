"""The browser pool: one Chromium per worker process, one browser context per session.

Playwright's sync API binds every object to the thread that created it and cannot run on a
thread with a running asyncio loop, while Django refuses ORM calls on a thread where one is
running. So the pool owns a single dedicated thread: Chromium is launched there, lazily, on
first use, and every page operation is handed to it with ``pool.call(fn)``. The caller's thread
(the Celery task, a test) keeps the ORM to itself. Calls from several threads are serialized,
which is what one browser process can do anyway.

A browser context is opened per session and kept after the run (bounded LRU), so the next run
in the same session — or the resume of a run after an interaction — continues on the same
logged-in page. A run without a session gets a context of its own, closed when it ends.
Contexts of sessions that have ended are closed at the next ``open``.

Forking (Celery prefork) copies the pool object but not its thread: the child drops it and
launches its own Chromium on first use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings

from tasks.agent.runtime import AgentFailure

logger = logging.getLogger(__name__)

T = TypeVar("T")

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}


class BrowserUnavailable(AgentFailure):
    def __init__(self, message: str) -> None:
        super().__init__(message, type="api", code="browser_unavailable")


@dataclass
class Lease:
    """A page the harness drives; ``reused`` when it kept the state of an earlier run."""

    key: str
    context: Any  # playwright.sync_api.BrowserContext
    page: Any  # playwright.sync_api.Page
    reused: bool
    kept: bool  # belongs to a session: stays open after the run


class BrowserPool:
    def __init__(self, *, executable_path: str, max_contexts: int) -> None:
        self.executable_path = executable_path
        self.max_contexts = max_contexts
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deck-browser")
        self._playwright: Any = None
        self._browser: Any = None
        # session id → Lease, least recently used first; touched only on the browser thread.
        self._sessions: OrderedDict[str, Lease] = OrderedDict()
        self._lock = threading.Lock()

    # -- the browser thread -----------------------------------------------------------

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the browser thread and return its result (or raise its error)."""
        return self._executor.submit(fn).result()

    def _ensure_browser(self) -> Any:
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        if not Path(self.executable_path).exists():
            raise BrowserUnavailable(
                f"Chromium is not installed at {self.executable_path} (DECK_CHROMIUM_PATH)."
            )
        from playwright.sync_api import Error, sync_playwright

        if self._browser is not None:
            # The browser died: its contexts went with it.
            logger.warning("Chromium disconnected; launching a new one.")
            self._sessions.clear()
        try:
            if self._playwright is None:
                self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=self.executable_path, headless=True, args=LAUNCH_ARGS
            )
        except Error as exc:
            raise BrowserUnavailable(f"Chromium could not be started: {exc.message}") from exc
        return self._browser

    # -- leases -----------------------------------------------------------------------

    def open(self, *, key: str, session_id: str | None) -> Lease:
        """A page for a run: the session's kept page when there is one, else a new context."""

        def _open() -> Lease:
            if session_id and session_id in self._sessions:
                lease = self._sessions[session_id]
                self._sessions.move_to_end(session_id)
                if self._browser is not None and self._browser.is_connected():
                    if lease.page.is_closed():
                        lease.page = lease.context.new_page()
                    lease.reused = True
                    return lease
                self._sessions.pop(session_id, None)
            browser = self._ensure_browser()
            context = browser.new_context(
                accept_downloads=True, viewport=VIEWPORT, locale="en-US", timezone_id="UTC"
            )
            context.set_default_timeout(settings.DECK_AGENT_ACTION_TIMEOUT_MS)
            context.set_default_navigation_timeout(settings.DECK_AGENT_NAVIGATION_TIMEOUT_MS)
            lease = Lease(
                key=session_id or key,
                context=context,
                page=context.new_page(),
                reused=False,
                kept=bool(session_id),
            )
            if session_id:
                self._sessions[session_id] = lease
                while len(self._sessions) > self.max_contexts:
                    _, oldest = self._sessions.popitem(last=False)
                    _close_quietly(oldest)
            return lease

        return self.call(_open)

    def release(self, lease: Lease) -> None:
        """The run is done with its page: a session's stays, a lone run's context closes."""
        if not lease.kept:
            self.call(lambda: _close_quietly(lease))

    def forget(self, session_id: str) -> None:
        """Close a session's context now (the session ended, or its page is unusable)."""

        def _forget() -> None:
            lease = self._sessions.pop(session_id, None)
            if lease is not None:
                _close_quietly(lease)

        self.call(_forget)

    def session_ids(self) -> list[str]:
        return self.call(lambda: list(self._sessions))

    def prune(self, ended: Callable[[list[str]], list[str]]) -> int:
        """Close the contexts of sessions ``ended`` says are over (called off the browser
        thread, so it may query the database)."""
        ids = self.session_ids()
        gone = ended(ids) if ids else []
        for session_id in gone:
            self.forget(session_id)
        return len(gone)

    def close(self) -> None:
        def _close() -> None:
            for lease in list(self._sessions.values()):
                _close_quietly(lease)
            self._sessions.clear()
            if self._browser is not None:
                # Already gone is as good as closed.
                with contextlib.suppress(Exception):
                    self._browser.close()
                self._browser = None
            if self._playwright is not None:
                self._playwright.stop()
                self._playwright = None

        try:
            self.call(_close)
        finally:
            self._executor.shutdown(wait=True)


def _close_quietly(lease: Lease) -> None:
    try:
        lease.context.close()
    except Exception:
        logger.debug("Browser context %s was already closed", lease.key)


_pool: BrowserPool | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def browser_pool() -> BrowserPool:
    """This process's pool, created on first use (after any fork)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = BrowserPool(
                executable_path=settings.DECK_CHROMIUM_PATH,
                max_contexts=settings.DECK_BROWSER_MAX_CONTEXTS,
            )
            _pool_pid = os.getpid()
        return _pool


def browser_pool_close() -> None:
    """Shut this process's browser down (worker shutdown, end of a test module)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None and _pool_pid == os.getpid():
        pool.close()


def _after_fork_in_child() -> None:
    # The parent's browser thread does not exist here; never touch its objects.
    global _pool, _pool_pid, _pool_lock
    _pool = None
    _pool_pid = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
