"""One mapper per legacy collection: a document in, an Item (a row to write) out.

The field names are the legacy code's own (seed 002: `submit_lead`, the lead
sender, the queue); legacy/README.md lists each field and where it lands."""

from .config_mappers import ConfigMappers
from .lead_mappers import LeadMappers
from .queue_mappers import QueueMappers


class CollectionMappers(ConfigMappers, LeadMappers, QueueMappers):
    """Mixed into Importer: uses its reference caches (`_ref`, `_need`, `_product`…)."""
