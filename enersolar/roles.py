"""The three staff roles (SPEC §1) as groups with model permissions, named
in French: Administrateur (Admin), Éditeur (Editor), Lecteur (Viewer).

Admin: everything. Editor: configuration and lead actions, but no users, no
billing, no partner keys and no say in where leads go (CRM URLs, buyer keys,
form CRM overrides). Viewer: read only. Kept in sync after every
`migrate`, so models added later land in the right roles without a new data
migration each time.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

# The groups' names are what staff read (user and group pages, filters): French.
ADMIN, EDITOR, VIEWER = "Administrateur", "Éditeur", "Lecteur"
# Their names before issue 15: roles_sync renames such groups (members and all).
FORMER_NAMES = {"Admin": ADMIN, "Editor": EDITOR, "Viewer": VIEWER}

BUSINESS_APPS = {"enersolar", "tracking", "leads", "routing", "billing", "demo"}
# Models no role but Admin may touch or see: secrets and internals.
ADMIN_ONLY_MODELS = {"enersolar.apikey", "enersolar.codesequence"}
# Permissions no role but Admin holds, whatever their codename looks like.
ADMIN_ONLY_PERMISSIONS = {"enersolar.manage_destinations"}
# Models the Editor sees but does not change.
EDITOR_READ_ONLY_MODELS = {"enersolar.activitylog"}
EDITOR_EXCLUDED_APPS = {"billing"}
# Extra (non-CRUD) permissions granted to Editors; later apps add theirs here.
EDITOR_EXTRA_PERMISSIONS: set[str] = {"routing.retry_lead"}


def _role_of(app_label: str, model: str, codename: str) -> set[str]:
    roles = {ADMIN}
    key = f"{app_label}.{model}"
    if (
        app_label not in BUSINESS_APPS
        or key in ADMIN_ONLY_MODELS
        or f"{app_label}.{codename}" in ADMIN_ONLY_PERMISSIONS
    ):
        return roles
    is_view = codename.startswith("view_")
    if is_view and app_label not in EDITOR_EXCLUDED_APPS:
        roles |= {VIEWER, EDITOR}
    elif f"{app_label}.{codename}" in EDITOR_EXTRA_PERMISSIONS or (
        codename.split("_", 1)[0] in {"add", "change", "delete"}
        and app_label not in EDITOR_EXCLUDED_APPS
        and key not in EDITOR_READ_ONLY_MODELS
    ):
        roles.add(EDITOR)
    return roles


def roles_sync(apps=None, using="default") -> None:
    """Create the groups and give each exactly its permissions (idempotent)."""
    # `flush` (also run between transactional tests) sends post_migrate
    # without an app registry: use the current one then.
    apps = apps or global_apps
    for app_config in apps.get_app_configs():
        # Historical app configs (in a migration or post_migrate) have no
        # models_module, which create_permissions takes as "no models".
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0, using=using)
        finally:
            app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    granted: dict[str, list[int]] = {ADMIN: [], EDITOR: [], VIEWER: []}
    rows = Permission.objects.using(using).values_list(
        "id", "codename", "content_type__app_label", "content_type__model"
    )
    for perm_id, codename, app_label, model in rows:
        for role in _role_of(app_label, model, codename):
            granted[role].append(perm_id)
    groups = Group.objects.using(using)
    for former, role in FORMER_NAMES.items():
        if not groups.filter(name=role).exists():
            groups.filter(name=former).update(name=role)
    for role, perm_ids in granted.items():
        group, _ = groups.get_or_create(name=role)
        group.permissions.set(perm_ids)


def staff_on_role_given(sender, instance, action, pk_set, reverse, **kwargs) -> None:
    """A user given a role is staff: the role is what staff means here, and a
    separate "staff" box to tick was a trap (the user could not log in).
    Connected to `User.groups.through`'s m2m_changed (enersolar/apps.py)."""
    if action != "post_add" or not pk_set:
        return
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    roles = (ADMIN, EDITOR, VIEWER)
    not_staff = get_user_model().objects.filter(is_staff=False)
    if reverse:  # group.user_set.add(users…): instance is the group
        if instance.name in roles:
            not_staff.filter(pk__in=pk_set).update(is_staff=True)
    elif Group.objects.filter(pk__in=pk_set, name__in=roles).exists():
        not_staff.filter(pk=instance.pk).update(is_staff=True)
        instance.is_staff = True
