"""python manage.py erase_person --phone 0612345678 | --email someone@example.com"""

from django.core.management.base import BaseCommand, CommandError

from legacy.rgpd import person_erase


class Command(BaseCommand):
    help = "RGPD erasure: anonymise every lead and session of one person, with a journal entry."

    def add_arguments(self, parser):
        parser.add_argument("--phone", help="any format: 06 12 34 56 78, +33612345678, …")
        parser.add_argument("--email")

    def handle(self, *args, **options):
        if not options["phone"] and not options["email"]:
            raise CommandError("give --phone or --email")
        result = person_erase(phone=options["phone"], email=options["email"], via="command")
        self.stdout.write(
            f"{result.leads} lead(s) and {result.sessions} session(s) anonymised; "
            "journal entry written."
        )
