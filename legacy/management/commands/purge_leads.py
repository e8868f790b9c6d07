"""python manage.py purge_leads [--older-than 3y|18m|90d] [--dry-run]"""

from django.core.management.base import BaseCommand, CommandError

from legacy.rgpd import leads_purge, parse_age


class Command(BaseCommand):
    help = (
        "RGPD retention: anonymise the personal fields of leads (and visitor sessions) older "
        "than the period. Statuses, dates, products, departments, deliveries and billing stay."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", default="3y", help="3y, 18m, 90d (default 3y)")
        parser.add_argument("--dry-run", action="store_true", help="count only")

    def handle(self, *args, **options):
        try:
            parse_age(options["older_than"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        result = leads_purge(older_than=options["older_than"], dry_run=options["dry_run"])
        verb = "would be anonymised" if options["dry_run"] else "anonymised"
        self.stdout.write(
            f"{result.leads} lead(s) and {result.sessions} session(s) {verb} "
            f"(older than {options['older_than']})."
        )
