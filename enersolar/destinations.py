"""Where leads go is an Admin decision (SPEC §1, issue "Least privilege").

A CRM's endpoint URL, every buyer key (account routing, orders, form
overrides) and a form's CRM override decide who receives a lead and with which
key: changing any of them needs `enersolar.manage_destinations`, which only the
Admin role holds (enersolar/roles.py). Each change is journaled with its old
and new values — URLs in clear, keys masked — and e-mailed to the admins once
the change is committed.
"""

from django.db import transaction
from django.utils.functional import lazy
from django.utils.translation import gettext

from .models import ActivityLog
from .notifications import notify_admins
from .services import journal_record

DESTINATION_PERMISSION = "enersolar.manage_destinations"


def can_manage_destinations(user) -> bool:
    return bool(user and user.is_active and user.has_perm(DESTINATION_PERMISSION))


def destination_change_record(*, user, obj, changes: list[dict]) -> ActivityLog | None:
    """Journal `changes` ([{"field": model field name, "old", "new"}], values
    already masked where secret) made to `obj`, and e-mail the admins after
    the commit."""
    if not changes:
        return None
    entry = journal_record(
        user=user, action=ActivityLog.Action.DESTINATION, obj=obj, details={"changes": changes}
    )
    who = user.get_username() if user is not None and user.is_authenticated else "system"
    subject = lazy(lambda: gettext("Where leads go changed: %(obj)s") % {"obj": obj}, str)()
    message = lazy(lambda: _mail_text(who=who, obj=obj, changes=changes), str)()
    transaction.on_commit(lambda: notify_admins(subject=subject, message=message))
    return entry


def _mail_text(*, who: str, obj, changes: list[dict]) -> str:
    lines = [gettext("%(user)s changed where leads go on %(obj)s:") % {"user": who, "obj": obj}]
    empty = gettext("(empty)")
    for change in changes:
        label = obj._meta.get_field(change["field"]).verbose_name
        lines.append(f"- {label}: {change['old'] or empty} → {change['new'] or empty}")
    lines += ["", gettext("Every change is in the activity journal.")]
    return "\n".join(lines)
