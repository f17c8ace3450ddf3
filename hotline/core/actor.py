"""Who is acting: a staff member in a role, or the system itself."""

from __future__ import annotations

from dataclasses import dataclass

from hotline.core.lifecycle import Role


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    label: str
    role: Role

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(user_id=None, label=label, role=Role.SYSTEM)
