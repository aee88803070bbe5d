"""Creates an Iceberg table with pyiceberg in a SQLite SQL catalog, as another
engine would before Sluice writes to it: `id` long, required; `msg` string.

Usage: create_iceberg_table.py CATALOG_DB CATALOG_NAME WAREHOUSE TABLE
       (TABLE is namespace.table; the warehouse is a local file:// URI)
"""

import sys

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType


def main():
    db, name, warehouse, table = sys.argv[1:5]
    catalog = SqlCatalog(name, uri=f"sqlite:///{db}", warehouse=warehouse)
    namespace = table.rsplit(".", 1)[0]
    catalog.create_namespace_if_not_exists(namespace)
    catalog.create_table(table, schema=Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "msg", StringType(), required=False),
    ))
    print("{}")


if __name__ == "__main__":
    main()
