"""Keep every import of the project inside this worktree.

The shared virtualenv has the project installed in editable mode from another
checkout: setuptools' editable finder maps `leads`, `billing`… to that
checkout's folders. The worktree comes first on sys.path, so its packages win,
but a submodule that exists only in the other checkout (say `billing.admin`)
would still be found there by the finder and imported into this one. The
benchmark drops the finder, and checks where the project's modules came from.

    python -m bench.worktree manage <command> [args]   # manage.py, isolated
    python -m bench.worktree gunicorn [args]           # gunicorn, isolated
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("enersolar", "tracking", "leads", "routing", "billing", "bench")


def isolate() -> None:
    """Drop the editable install's finder from the import machinery."""
    if str(ROOT) not in sys.path[:1]:
        sys.path.insert(0, str(ROOT))
    sys.meta_path[:] = [
        finder
        for finder in sys.meta_path
        if not getattr(finder, "__module__", "").startswith("__editable__")
    ]


def foreign_modules() -> list[str]:
    """The project's modules imported from anywhere but this worktree."""
    foreign = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in PROJECT_PACKAGES:
            continue
        path = getattr(module, "__file__", None)
        if path and not Path(path).resolve().is_relative_to(ROOT):
            foreign.append(f"{name} ({path})")
    return sorted(foreign)


def main(argv: list[str]) -> None:
    isolate()
    tool, *args = argv or ["help"]
    if tool == "manage":
        from django.core.management import execute_from_command_line

        execute_from_command_line(["manage.py", *args])
    elif tool == "gunicorn":
        from gunicorn.app.wsgiapp import run

        sys.argv = ["gunicorn", *args]
        run()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
