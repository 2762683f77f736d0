"""The sandbox's state: every object by id, in creation order per type, plus the lagging search index.

One re-entrant lock guards it all; handlers take it for the whole read-modify-write so a threaded server cannot
interleave two writes. Keys starting with `_` are private bookkeeping and never leave the sandbox.
"""

from __future__ import annotations

import copy
import random
import string
import threading
from typing import Any, Callable, Iterator, Optional

from .errors import missing

ALPHANUM = string.ascii_letters + string.digits
# The resources Stripe's Search API covers here.
SEARCHABLE = {"customer", "invoice", "price", "product", "subscription"}
Obj = dict[str, Any]


class Store:
    def __init__(self, clock: Callable[[], float], seed: int | str, search_lag: Callable[[], float]):
        self.lock = threading.RLock()
        self.clock = clock
        self._search_lag = search_lag
        # Ids get their own RNG so that the fault sequence (the base class's RNG) does not depend on how many
        # objects a test happened to create.
        self._rng = random.Random(seed)
        self._by_type: dict[str, dict[str, Obj]] = {}
        self._types: dict[str, str] = {}  # id -> object type
        self._deleted: dict[str, str] = {}  # id -> object type, for Stripe's "deleted" stubs on retrieve
        self._index: dict[str, list[tuple[float, Optional[Obj]]]] = {}  # id -> (visible_at, snapshot) versions
        self.renderers: dict[str, Callable[[Obj], Obj]] = {}
        # Fields Stripe leaves out unless `expand[]` names them (a charge's `refunds`): (object, field) -> value.
        self.includable: dict[tuple[str, str], Callable[[Obj], Any]] = {}
        self.on_change: list[Callable[[], None]] = []

    # -- ids and time ------------------------------------------------------------------------------------------
    def now(self) -> int:
        return int(self.clock())

    def new_id(self, prefix: str, length: int = 14, alphabet: str = ALPHANUM) -> str:
        with self.lock:
            while True:
                candidate = prefix + "".join(self._rng.choice(alphabet) for _ in range(length))
                if candidate not in self._types:  # a restart from a data file replays the same seed
                    return candidate

    # -- objects -----------------------------------------------------------------------------------------------
    def insert(self, obj: Obj) -> Obj:
        with self.lock:
            self._by_type.setdefault(obj["object"], {})[obj["id"]] = obj
            self._types[obj["id"]] = obj["object"]
            self.touched(obj)
            return obj

    def get(self, object_id: str, object_type: Optional[str] = None, param: str = "id") -> Obj:
        with self.lock:
            found_type = self._types.get(object_id)
            if found_type is None or (object_type is not None and found_type != object_type):
                raise missing(object_id, param, object_type)
            return self._by_type[found_type][object_id]

    def find(self, object_id: str) -> Optional[Obj]:
        with self.lock:
            found_type = self._types.get(object_id)
            return self._by_type[found_type][object_id] if found_type else None

    def delete(self, obj: Obj) -> Obj:
        with self.lock:
            del self._by_type[obj["object"]][obj["id"]]
            del self._types[obj["id"]]
            self._deleted[obj["id"]] = obj["object"]
            if obj["id"] in self._index:
                self._record_version(obj["id"], None)
            self._changed()
            return {"id": obj["id"], "object": obj["object"], "deleted": True}

    def was_deleted(self, object_id: str, object_type: str) -> bool:
        with self.lock:
            return self._deleted.get(object_id) == object_type

    def newest_first(self, object_type: str) -> Iterator[Obj]:
        with self.lock:
            return reversed(list(self._by_type.get(object_type, {}).values()))

    def touched(self, obj: Obj) -> None:
        """Call after mutating an object in place: feeds the search index and the persistence debouncer."""
        with self.lock:
            if obj["object"] in SEARCHABLE:
                self._record_version(obj["id"], self.render(obj))
            self._changed()

    def _changed(self) -> None:
        for listener in self.on_change:
            listener()

    # -- rendering ---------------------------------------------------------------------------------------------
    def render(self, obj: Obj) -> Obj:
        """The public JSON form of an object (computed fields filled in, private keys dropped), a deep copy."""
        with self.lock:
            renderer = self.renderers.get(obj["object"])
            public = renderer(obj) if renderer else obj
            return {k: copy.deepcopy(v) for k, v in public.items() if not k.startswith("_")}

    # -- search ------------------------------------------------------------------------------------------------
    def _record_version(self, object_id: str, snapshot: Optional[Obj]) -> None:
        now = self.clock()
        versions = self._index.setdefault(object_id, [])
        versions.append((now + self._search_lag(), snapshot))
        # Keep only the newest version already visible and the ones still pending.
        visible = [i for i, (at, _) in enumerate(versions) if at <= now]
        if len(visible) > 1:
            del versions[: visible[-1]]

    def searchable(self, object_type: str) -> list[Obj]:
        """What the search index shows now: each object's latest version whose lag has elapsed, newest first."""
        now = self.clock()
        with self.lock:
            found = []
            for versions in self._index.values():
                shown = None
                for visible_at, snapshot in versions:
                    if visible_at <= now:
                        shown = snapshot
                if shown is not None and shown["object"] == object_type:
                    found.append(shown)
            return sorted(found, key=lambda o: o.get("created", 0), reverse=True)

    # -- persistence -------------------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"objects": [obj for objects in self._by_type.values() for obj in objects.values()],
                    "deleted": self._deleted,
                    "rng": _jsonable_state(self._rng.getstate())}

    def load(self, state: dict[str, Any]) -> None:
        with self.lock:
            self._deleted.update(state.get("deleted", {}))
            for obj in state.get("objects", []):
                self._by_type.setdefault(obj["object"], {})[obj["id"]] = obj
                self._types[obj["id"]] = obj["object"]
            for object_type in SEARCHABLE:  # after all objects are back, since renderers look up related ones
                for obj in self._by_type.get(object_type, {}).values():
                    self._index[obj["id"]] = [(0.0, self.render(obj))]  # a restart has caught up with the lag
            if "rng" in state:
                version, internal, gauss = state["rng"]
                self._rng.setstate((version, tuple(internal), gauss))


def _jsonable_state(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]
