"""python manage.py import_legacy DUMP [--collections …] [--audit] [--batch NAME]
python manage.py import_legacy --rollback BATCH"""

import json

from django.core.management.base import BaseCommand, CommandError

from legacy.importer import COLLECTIONS
from legacy.services import ImportError_, RollbackRefused, batch_rollback, legacy_import


class Command(BaseCommand):
    help = (
        "Import a mongoexport dump of the legacy system (a directory of <collection>.json "
        "files or one file), audit it without writing, or roll back one import batch."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", nargs="?", help="dump directory or one collection file")
        parser.add_argument(
            "--collections",
            help=f"comma-separated subset, in any order (default: {','.join(COLLECTIONS)})",
        )
        parser.add_argument("--audit", action="store_true", help="count only, write nothing")
        parser.add_argument("--batch", help="batch name (default legacy-<timestamp>)")
        parser.add_argument("--rollback", metavar="BATCH", help="remove what a batch created")
        parser.add_argument("--chunk-size", type=int, default=2000)
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args, **options):
        if options["rollback"]:
            try:
                deleted = batch_rollback(name=options["rollback"])
            except RollbackRefused as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"Batch {options['rollback']} rolled back:")
            for collection, count in deleted.items():
                self.stdout.write(f"  {collection}: {count} removed")
            return
        if not options["source"]:
            raise CommandError("give a dump directory or file (or --rollback BATCH)")
        collections = (
            [c.strip() for c in options["collections"].split(",") if c.strip()]
            if options["collections"]
            else None
        )

        def progress(message: str) -> None:
            self.stderr.write(message)
            self.stderr.flush()

        try:
            outcome = legacy_import(
                source=options["source"],
                collections=collections,
                audit=options["audit"],
                batch_name=options["batch"],
                progress=None if options["verbosity"] == 0 else progress,
                chunk_size=options["chunk_size"],
            )
        except ImportError_ as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(outcome.results, indent=2, default=str))
            return
        title = "Audit (nothing written)" if outcome.batch is None else f"Batch {outcome.batch}"
        self.stdout.write(title)
        for name in outcome.ignored_files:
            self.stdout.write(f"  {name}: not a known collection, ignored")
        for name, why in outcome.not_imported.items():
            self.stdout.write(f"  {name}: not imported ({why})")
        for collection, result in outcome.results.items():
            self._collection_report(collection, result, audit=outcome.batch is None)

    def _collection_report(self, collection: str, result: dict, *, audit: bool) -> None:
        if collection == "mini_analyses":
            # The migration's own words (seed 004): totals, already linked, to migrate.
            done = f"to migrate {result['to_create']}" if audit else f"migrated {result['created']}"
            linked = result["already_imported"] + result["to_link" if audit else "matched"]
            self.stdout.write(
                f"  {collection}: total {result['total']}, already linked {linked}, "
                f"{done}, invalid {result['invalid']}"
            )
        else:
            done = (
                f"to create {result['to_create']}, to link {result['to_link']}, "
                f"to link as duplicates {result['to_link_as_duplicate']}"
                if audit
                else f"created {result['created']}, matched {result['matched']}, "
                f"linked as duplicates {result['duplicates_linked']}"
            )
            self.stdout.write(
                f"  {collection}: total {result['total']}, already imported "
                f"{result['already_imported']}, {done}, invalid {result['invalid']}"
            )
        for reason, count in sorted(result["reasons"].items()):
            self.stdout.write(f"      {reason}: {count}")
        for example in result["examples"][:5]:
            self.stdout.write(
                f"      line {example['line']} {example['id'] or '-'}: {example['reason']}"
            )
        for note, count in sorted(result["notes"].items()):
            self.stdout.write(f"      note {note}: {count}")
        for example in result["note_examples"][:5]:
            self.stdout.write(
                f"      line {example['line']} {example['id'] or '-'}: {example['note']}"
            )
        marker = "TO MIGRATE" if audit else "MIGRATED"
        for entry in result.get("listed", []):
            tag = "LINKED" if entry.endswith("(already linked)") else marker
            self.stdout.write(f"      [{tag}] {entry.removesuffix(' (already linked)')}")
