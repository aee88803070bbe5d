//! Column types between the config's Glue/Hive names, which the JSON conversion
//! works in, and Iceberg's: a created table's schema and partition spec from the
//! config, and the columns a table's schema converts records into.

use std::sync::Arc;

use iceberg::spec::{
    ListType, MapType, NestedField, NestedFieldRef, PartitionSpec, PrimitiveType, Schema,
    StructType, Transform, Type,
};

use crate::encode::parquet::{Column, HiveType};

/// The Iceberg schema of a table created from configured columns: every column
/// optional (a record may lack any key, as in the Parquet conversion), field ids
/// from 1 in order, nested ones included.
pub fn table_schema(columns: &[Column]) -> Result<Schema, String> {
    let mut next_id = 0;
    let fields: Vec<NestedFieldRef> = columns
        .iter()
        .map(|c| {
            next_id += 1;
            let id = next_id;
            let ty = iceberg_type(&c.ty, &mut next_id);
            Arc::new(NestedField::optional(id, &c.name, ty))
        })
        .collect();
    Schema::builder()
        .with_fields(fields)
        .build()
        .map_err(|e| format!("the columns do not make an Iceberg schema: {e}"))
}

fn iceberg_type(ty: &HiveType, next_id: &mut i32) -> Type {
    let mut id = || {
        *next_id += 1;
        *next_id
    };
    match ty {
        HiveType::Boolean => Type::Primitive(PrimitiveType::Boolean),
        // Iceberg's narrowest integer is 32 bits.
        HiveType::TinyInt | HiveType::SmallInt | HiveType::Int => {
            Type::Primitive(PrimitiveType::Int)
        }
        HiveType::BigInt => Type::Primitive(PrimitiveType::Long),
        HiveType::Float => Type::Primitive(PrimitiveType::Float),
        HiveType::Double => Type::Primitive(PrimitiveType::Double),
        HiveType::Decimal { precision, scale } => Type::Primitive(PrimitiveType::Decimal {
            precision: u32::from(*precision),
            scale: u32::from(*scale),
        }),
        HiveType::String | HiveType::Char(_) | HiveType::Varchar(_) => {
            Type::Primitive(PrimitiveType::String)
        }
        HiveType::Date => Type::Primitive(PrimitiveType::Date),
        // Firehose maps Glue's `timestamp` to Iceberg's `timestamp`; the values
        // are UTC.
        HiveType::Timestamp => Type::Primitive(PrimitiveType::Timestamp),
        HiveType::Binary => Type::Primitive(PrimitiveType::Binary),
        HiveType::Array(element) => {
            let element_id = id();
            let element = iceberg_type(element, next_id);
            Type::List(ListType::new(Arc::new(NestedField::list_element(
                element_id, element, false,
            ))))
        }
        HiveType::Map(key, value) => {
            let (key_id, value_id) = (id(), id());
            let key = iceberg_type(key, next_id);
            let value = iceberg_type(value, next_id);
            Type::Map(MapType::optional(key_id, key, value_id, value))
        }
        HiveType::Struct(fields) => {
            let ids: Vec<i32> = fields.iter().map(|_| id()).collect();
            let fields = fields
                .iter()
                .zip(ids)
                .map(|((name, ty), id)| {
                    Arc::new(NestedField::optional(id, name, iceberg_type(ty, next_id)))
                })
                .collect();
            Type::Struct(StructType::new(fields))
        }
    }
}

/// The columns a table's schema converts JSON records into, with the Parquet
/// conversion's rules: each Iceberg type as the Glue type Firehose maps to it.
/// Types JSON has no conversion for (`time`, `uuid`, `fixed`) are refused.
pub fn columns(schema: &Schema) -> Result<Vec<Column>, String> {
    schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| {
            Ok(Column {
                name: f.name.clone(),
                ty: hive_type(f)?,
            })
        })
        .collect()
}

fn hive_type(field: &NestedFieldRef) -> Result<HiveType, String> {
    Ok(match field.field_type.as_ref() {
        Type::Primitive(p) => match p {
            PrimitiveType::Boolean => HiveType::Boolean,
            PrimitiveType::Int => HiveType::Int,
            PrimitiveType::Long => HiveType::BigInt,
            PrimitiveType::Float => HiveType::Float,
            PrimitiveType::Double => HiveType::Double,
            PrimitiveType::Decimal { precision, scale } => HiveType::Decimal {
                precision: u8::try_from(*precision).map_err(|_| unsupported(field))?,
                scale: u8::try_from(*scale).map_err(|_| unsupported(field))?,
            },
            PrimitiveType::Date => HiveType::Date,
            PrimitiveType::Timestamp
            | PrimitiveType::Timestamptz
            | PrimitiveType::TimestampNs
            | PrimitiveType::TimestamptzNs => HiveType::Timestamp,
            PrimitiveType::String => HiveType::String,
            PrimitiveType::Binary => HiveType::Binary,
            PrimitiveType::Time | PrimitiveType::Uuid | PrimitiveType::Fixed(_) => {
                return Err(unsupported(field));
            }
        },
        Type::List(list) => HiveType::Array(Box::new(hive_type(&list.element_field)?)),
        Type::Map(map) => HiveType::Map(
            Box::new(hive_type(&map.key_field)?),
            Box::new(hive_type(&map.value_field)?),
        ),
        Type::Struct(s) => HiveType::Struct(
            s.fields()
                .iter()
                .map(|f| Ok((f.name.clone(), hive_type(f)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

fn unsupported(field: &NestedField) -> String {
    format!(
        "column `{}` is of type {}, which JSON records are not converted to",
        field.name, field.field_type
    )
}

/// A partition spec from `partition_by` entries: `col` or `identity(col)`,
/// `year(ts)`, `month(ts)`, `day(ts)`, `hour(ts)`, `bucket(N, col)`,
/// `truncate(W, col)`. Partition fields are named as Spark names them
/// (`ts_day`, `id_bucket`, `s_trunc`).
pub fn partition_spec(schema: &Schema, partition_by: &[String]) -> Result<PartitionSpec, String> {
    let mut builder = PartitionSpec::builder(schema.clone());
    for entry in partition_by {
        let (transform, column) = parse_partition(entry)?;
        let name = match transform {
            Transform::Identity => column.to_string(),
            Transform::Year => format!("{column}_year"),
            Transform::Month => format!("{column}_month"),
            Transform::Day => format!("{column}_day"),
            Transform::Hour => format!("{column}_hour"),
            Transform::Bucket(_) => format!("{column}_bucket"),
            _ => format!("{column}_trunc"),
        };
        builder = builder
            .add_partition_field(column, name, transform)
            .map_err(|e| format!("partition_by `{entry}`: {}", e.message()))?;
    }
    builder
        .build()
        .map_err(|e| format!("partition_by: {}", e.message()))
}

fn parse_partition(entry: &str) -> Result<(Transform, &str), String> {
    let entry = entry.trim();
    let Some((name, rest)) = entry.split_once('(') else {
        return Ok((Transform::Identity, entry));
    };
    let args = rest
        .strip_suffix(')')
        .ok_or_else(|| format!("partition_by `{entry}`: a `)` is missing"))?;
    let args: Vec<&str> = args.split(',').map(str::trim).collect();
    let number = |n: &str| {
        n.parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("partition_by `{entry}`: `{n}` is not a positive number"))
    };
    match (name.trim(), args.as_slice()) {
        ("identity", [column]) => Ok((Transform::Identity, column)),
        ("year", [column]) => Ok((Transform::Year, column)),
        ("month", [column]) => Ok((Transform::Month, column)),
        ("day", [column]) => Ok((Transform::Day, column)),
        ("hour", [column]) => Ok((Transform::Hour, column)),
        ("bucket", [n, column]) => Ok((Transform::Bucket(number(n)?), column)),
        ("truncate", [w, column]) => Ok((Transform::Truncate(number(w)?), column)),
        _ => Err(format!(
            "partition_by `{entry}` is not one of col, identity(col), year(col), month(col), day(col), hour(col), bucket(N, col), truncate(W, col)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(spec: &[(&str, &str)]) -> Vec<Column> {
        spec.iter()
            .map(|(name, ty)| Column {
                name: name.to_string(),
                ty: ty.parse().expect("a type"),
            })
            .collect()
    }

    #[test]
    fn nested_columns_get_unique_ids_and_map_back_to_their_types() {
        let columns = cols(&[
            ("ts", "timestamp"),
            ("tags", "array<string>"),
            ("geo", "struct<lat:double,lon:double>"),
            ("attrs", "map<string,bigint>"),
            ("amount", "decimal(10,2)"),
        ]);
        let schema = table_schema(&columns).expect("a schema");
        assert_eq!(schema.highest_field_id(), 10);
        let back = columns_of(&schema);
        assert_eq!(
            back,
            vec![
                "ts timestamp",
                "tags array<string>",
                "geo struct<lat:double,lon:double>",
                "attrs map<string,bigint>",
                "amount decimal(10,2)"
            ]
        );
    }

    fn columns_of(schema: &Schema) -> Vec<String> {
        columns(schema)
            .expect("convertible")
            .iter()
            .map(|c| format!("{} {}", c.name, c.ty))
            .collect()
    }

    #[test]
    fn partition_transforms_parse_and_name_their_fields() {
        let schema = table_schema(&cols(&[
            ("ts", "timestamp"),
            ("id", "bigint"),
            ("s", "string"),
        ]))
        .expect("a schema");
        let spec = partition_spec(
            &schema,
            &[
                "day(ts)".into(),
                "bucket(16, id)".into(),
                "truncate(4, s)".into(),
            ],
        )
        .expect("a spec");
        let fields: Vec<String> = spec
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name, f.transform))
            .collect();
        assert_eq!(
            fields,
            vec!["ts_day day", "id_bucket bucket[16]", "s_trunc truncate[4]"]
        );
    }

    #[test]
    fn bad_partitions_are_refused_with_the_entry() {
        let schema =
            table_schema(&cols(&[("ts", "timestamp"), ("s", "string")])).expect("a schema");
        for (entry, says) in [
            ("day(nope)", "nope"),
            ("bucket(0, s)", "positive"),
            ("week(ts)", "is not one of"),
            ("day(s)", "day(s)"),
            ("hour(ts", "missing"),
        ] {
            let e = partition_spec(&schema, &[entry.into()]).expect_err(entry);
            assert!(e.contains(says), "{entry}: {e}");
        }
    }
}
