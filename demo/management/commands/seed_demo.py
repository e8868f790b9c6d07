from django.core.management.base import BaseCommand

from demo.seed import DEMO_ADMIN, demo_seed


class Command(BaseCommand):
    help = "Create the demo data (idempotent): CRMs zr7/mdl, an account, forms, orders, an admin."

    def add_arguments(self, parser):
        parser.add_argument("--crm-url-zr7", help="API URL of the zr7 CRM (default: sandbox)")
        parser.add_argument("--crm-url-mdl", help="API URL of the mdl CRM (default: sandbox)")

    def handle(self, *args, crm_url_zr7=None, crm_url_mdl=None, **options):
        result = demo_seed(crm_urls={"zr7": crm_url_zr7, "mdl": crm_url_mdl})
        if result.created:
            self.stdout.write("Created or updated: " + ", ".join(result.created))
        else:
            self.stdout.write("Demo data already present; nothing created.")
        if result.admin_password:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Admin login: {DEMO_ADMIN} / {result.admin_password}  (shown once)"
                )
            )
        if result.partner_key:
            self.stdout.write(
                self.style.SUCCESS(f"Partner API key (shown once): {result.partner_key}")
            )
