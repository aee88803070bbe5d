//! Schema evolution (Firehose's `SchemaEvolutionConfiguration`): a top-level
//! JSON key the table lacks becomes a new optional column, its type inferred from
//! the first value that is not null, committed as a schema update before the
//! data that needs it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use iceberg::spec::{ListType, NestedField, PrimitiveType, Schema, StructType, Type};
use serde_json::Value;

/// The columns to add for `records`: each top-level key the schema lacks
/// (matched as the conversion matches keys: case-insensitively), in the order
/// first seen (a record's keys in name order), with its inferred type. Keys seen only with null or empty values
/// wait for a record that tells their type.
pub fn new_columns<'a>(
    schema: &Schema,
    records: impl Iterator<Item = &'a [u8]>,
) -> Vec<(String, Type)> {
    let known: HashSet<String> = schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| f.name.to_lowercase())
        .collect();
    let mut found: BTreeMap<String, (usize, String, Type)> = BTreeMap::new();
    for record in records {
        for value in serde_json::Deserializer::from_slice(record).into_iter::<Value>() {
            let Ok(Value::Object(object)) = value else {
                continue;
            };
            for (key, value) in object {
                let lower = key.to_lowercase();
                if known.contains(&lower) || found.contains_key(&lower) {
                    continue;
                }
                if let Some(ty) = infer(&value) {
                    let order = found.len();
                    found.insert(lower, (order, key, ty));
                }
            }
        }
    }
    let mut columns: Vec<(usize, String, Type)> = found.into_values().collect();
    columns.sort_by_key(|(order, _, _)| *order);
    columns
        .into_iter()
        .map(|(_, name, ty)| (name, ty))
        .collect()
}

/// The Iceberg type a JSON value suggests: as the Parquet conversion would read
/// it back (`bigint` for integers, `double` for other numbers, lists and structs
/// nested). Field ids are placeholders: the schema update assigns them.
fn infer(value: &Value) -> Option<Type> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => Type::Primitive(PrimitiveType::Boolean),
        Value::Number(n) if n.is_i64() || n.is_u64() => Type::Primitive(PrimitiveType::Long),
        Value::Number(_) => Type::Primitive(PrimitiveType::Double),
        Value::String(_) => Type::Primitive(PrimitiveType::String),
        Value::Array(items) => {
            let element = items
                .iter()
                .find_map(infer)
                .unwrap_or(Type::Primitive(PrimitiveType::String));
            Type::List(ListType::new(Arc::new(NestedField::list_element(
                0, element, false,
            ))))
        }
        Value::Object(fields) => {
            let fields: Vec<_> = fields
                .iter()
                .filter_map(|(name, v)| {
                    infer(v).map(|ty| Arc::new(NestedField::optional(0, name, ty)))
                })
                .collect();
            if fields.is_empty() {
                return None;
            }
            Type::Struct(StructType::new(fields))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_become_typed_columns_in_the_order_seen() {
        let schema = Schema::builder()
            .with_fields(vec![Arc::new(NestedField::optional(
                1,
                "user",
                Type::Primitive(PrimitiveType::String),
            ))])
            .build()
            .expect("a schema");
        let records: Vec<&[u8]> = vec![
            br#"{"User": "a", "score": 1.5, "later": null}"#,
            br#"{"n": 3, "ok": true, "tags": ["x"], "geo": {"lat": 1}, "later": "now", "Score": 2}"#,
            b"not json",
        ];
        let columns = new_columns(&schema, records.into_iter());
        let names: Vec<String> = columns
            .iter()
            .map(|(name, ty)| format!("{name} {ty}"))
            .collect();
        assert_eq!(
            names,
            vec![
                "score double",
                "geo struct<long>",
                "later string",
                "n long",
                "ok boolean",
                "tags list"
            ]
        );
        let Type::Struct(geo) = &columns[1].1 else {
            panic!("geo is a struct");
        };
        assert_eq!(geo.fields()[0].name, "lat");
        let Type::List(tags) = &columns[5].1 else {
            panic!("tags is a list");
        };
        assert_eq!(
            *tags.element_field.field_type,
            Type::Primitive(PrimitiveType::String)
        );
    }
}
