//! The configured columns, compiled for conversion: each struct (the record itself
//! included) knows which JSON key feeds which field, after the deserializer's key
//! rules, so a record's keys are looked up once each.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{Schema, SchemaRef};

use super::deserializer::Rules;
use super::types::{HiveType, struct_fields};

/// A configured column: `{ name = "ts", type = "timestamp" }`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: HiveType,
}

/// A type with what conversion needs to know about it.
#[derive(Debug)]
pub enum Node {
    Leaf(HiveType),
    List(Box<Node>),
    Map(HiveType, Box<Node>),
    Struct(StructNode),
}

/// A struct's fields, and the JSON key each is read from.
#[derive(Debug)]
pub struct StructNode {
    pub names: Vec<String>,
    pub children: Vec<Node>,
    index: HashMap<String, usize>,
}

impl StructNode {
    /// The field a (normalised) JSON key feeds.
    pub fn field(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }
}

/// The record's shape: its columns as the root struct, and the Arrow schema of the
/// files written.
#[derive(Debug)]
pub struct RecordSchema {
    pub columns: Vec<Column>,
    pub root: StructNode,
    pub arrow: SchemaRef,
}

impl RecordSchema {
    pub fn new(columns: &[Column], rules: &Rules) -> Self {
        let fields: Vec<(String, HiveType)> = columns
            .iter()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect();
        let mut root = struct_node(&fields, rules);
        // A mapped column reads only from its key.
        for (column, key) in &rules.mappings {
            if let Some(i) = root.index.remove(column) {
                root.index.insert(key.clone(), i);
            }
        }
        Self {
            columns: columns.to_vec(),
            root,
            arrow: Arc::new(Schema::new(struct_fields(&fields))),
        }
    }
}

fn struct_node(fields: &[(String, HiveType)], rules: &Rules) -> StructNode {
    StructNode {
        names: fields.iter().map(|(n, _)| n.clone()).collect(),
        children: fields.iter().map(|(_, ty)| node(ty, rules)).collect(),
        index: fields
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (rules.name(name), i))
            .collect(),
    }
}

fn node(ty: &HiveType, rules: &Rules) -> Node {
    match ty {
        HiveType::Array(element) => Node::List(Box::new(node(element, rules))),
        HiveType::Map(key, value) => Node::Map((**key).clone(), Box::new(node(value, rules))),
        HiveType::Struct(fields) => Node::Struct(struct_node(fields, rules)),
        leaf => Node::Leaf(leaf.clone()),
    }
}
