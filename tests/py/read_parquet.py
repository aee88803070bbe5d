"""Reads a Parquet file with pyarrow and with DuckDB and prints, as JSON, what each
reader sees: column types, rows (values normalised to JSON) and the file's
Parquet-level metadata (logical types, codecs, row groups).

Usage: read_parquet.py FILE
"""

import json
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from values import norm


def norm_arrow(value, arrow_type):
    """As norm, guided by the Arrow type: pyarrow gives maps as lists of pairs."""
    if value is None:
        return None
    if pa.types.is_map(arrow_type):
        return {
            str(norm(k)): norm_arrow(v, arrow_type.item_type) for k, v in value
        }
    if pa.types.is_list(arrow_type):
        return [norm_arrow(x, arrow_type.value_type) for x in value]
    if pa.types.is_struct(arrow_type):
        return {
            f.name: norm_arrow(value[f.name], f.type)
            for f in (arrow_type.field(i) for i in range(arrow_type.num_fields))
        }
    return norm(value)


def read_pyarrow(path):
    table = pq.read_table(path)
    columns = table.column_names
    types = {f.name: f.type for f in table.schema}
    rows = [
        {name: norm_arrow(row[name], types[name]) for name in columns}
        for row in table.to_pylist()
    ]
    return {
        "types": {f.name: str(f.type) for f in table.schema},
        "rows": rows,
    }


def read_duckdb(path):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rel = con.sql("SELECT * FROM read_parquet(?)", params=[path])
    names = rel.columns
    types = {n: str(t) for n, t in zip(names, rel.types)}
    rows = []
    for row in rel.fetchall():
        rows.append({name: norm(value) for name, value in zip(names, row)})
    return {"types": types, "rows": rows}


def metadata(path):
    meta = pq.ParquetFile(path).metadata
    schema = meta.schema
    columns = {}
    for i in range(len(schema)):
        col = schema.column(i)
        columns[col.path] = {
            "physical": col.physical_type,
            "logical": str(col.logical_type),
        }
    codecs = sorted(
        {
            meta.row_group(g).column(c).compression
            for g in range(meta.num_row_groups)
            for c in range(meta.num_columns)
        }
    )
    return {
        "row_groups": meta.num_row_groups,
        "rows": meta.num_rows,
        "columns": columns,
        "codecs": codecs,
        "created_by": meta.created_by,
    }


def main():
    path = sys.argv[1]
    print(
        json.dumps(
            {
                "pyarrow": read_pyarrow(path),
                "duckdb": read_duckdb(path),
                "parquet": metadata(path),
            }
        )
    )


if __name__ == "__main__":
    main()
