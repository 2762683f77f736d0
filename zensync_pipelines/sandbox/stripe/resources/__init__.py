"""The API resources the sandbox serves; each module's `register(sandbox)` adds its routes."""

from . import customers, notifications

ALL = [customers, notifications]
