"""Who is asking: every page asks data_access for data through a UserContext.

The context is the signed-in user's (data_access.users: role, areas, username). In demo mode
before sign-in, and for command-line tools, it is the default user of the settings
(``[app] default_role`` and ``[app] default_areas``). data_access filters everything by it
(data_access.scope); the pages only pass it along.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.i18n import N_
from core.settings import Settings, SettingsError

# Role names are codes and, through t(), what the pages call the roles (marked N_).
ROLES: tuple[str, ...] = (N_("admin"), N_("chair"), N_("officer"), N_("donor"))
# Roles that may see lists of households and persons, and personal data in them (names,
# national ids). Donors see aggregates only.
LIST_ROLES: frozenset[str] = frozenset({"admin", "chair", "officer"})
# Roles whose exports (workbook list sheets, list CSVs) keep the personal columns. A chair
# sees names on screen in the committee's work, but what leaves the app has none.
PERSONAL_EXPORT_ROLES: frozenset[str] = frozenset({"admin", "officer"})


@dataclass(frozen=True)
class UserContext:
    """A role and the areas it may see; no areas means the whole registry.

    ``username`` names the signed-in user (for the audit log); empty for the default user.
    """

    role: str
    areas: tuple[str, ...] = ()
    username: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role `{self.role}` (roles: {', '.join(ROLES)})")
        # Accept any iterable of area ids; keep a tuple so the context stays hashable.
        object.__setattr__(self, "areas", tuple(dict.fromkeys(str(a) for a in self.areas)))

    @property
    def whole_registry(self) -> bool:
        return not self.areas

    @property
    def is_admin(self) -> bool:
        """Manages users, targets and snapshots; sees the audit log."""
        return self.role == "admin"

    @property
    def is_donor(self) -> bool:
        """Sees aggregates only, suppressed (small cells hidden): never a list or a name."""
        return self.role == "donor"

    @property
    def sees_suppressed_figures(self) -> bool:
        """The figures this user sees are suppressed (data_access.scope, indicators.figures)."""
        return self.is_donor

    @property
    def sees_lists(self) -> bool:
        """May see row-level lists (households, persons) and the personal data in them."""
        return self.role in LIST_ROLES

    @property
    def exports_personal_data(self) -> bool:
        """May take personal data out of the app (exports and downloads of lists)."""
        return self.role in PERSONAL_EXPORT_ROLES


def make_context(role: str, areas: Iterable[str] = (), username: str = "") -> UserContext:
    return UserContext(role=role, areas=tuple(areas), username=username)


def default_context(settings: Settings) -> UserContext:
    """The default user of the settings; SettingsError naming the setting if the role is unknown."""
    role = str(settings["app.default_role"]).strip().lower()
    if role not in ROLES:
        raise SettingsError(
            f"setting `app.default_role` must be one of {', '.join(ROLES)}, "
            f"got {settings['app.default_role']!r}"
        )
    areas = [a.strip() for a in settings["app.default_areas"] if a.strip()]
    return UserContext(role=role, areas=tuple(areas))
