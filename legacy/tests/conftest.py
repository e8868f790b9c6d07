from tests.buyer import buyer  # noqa: F401 - the fake buyer CRM fixture
