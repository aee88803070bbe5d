//! Arrow column builders for converted rows. Each configured type has one builder
//! shape, nested as the type is; cells arrive already checked against the type, so
//! appending cannot fail.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, MapArray, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, FieldRef, Fields};

use super::convert::Cell;
use super::types::{HiveType, map_entries, struct_fields};

/// Builds one column (or a nested field) of a record batch.
pub enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    List {
        element: FieldRef,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        values: Box<ColumnBuilder>,
    },
    Map {
        entries: FieldRef,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        keys: Box<ColumnBuilder>,
        values: Box<ColumnBuilder>,
    },
    Struct {
        fields: Fields,
        nulls: NullBufferBuilder,
        children: Vec<ColumnBuilder>,
    },
}

impl ColumnBuilder {
    pub fn new(ty: &HiveType) -> Self {
        match ty {
            HiveType::Boolean => Self::Boolean(BooleanBuilder::new()),
            HiveType::TinyInt => Self::Int8(Int8Builder::new()),
            HiveType::SmallInt => Self::Int16(Int16Builder::new()),
            HiveType::Int => Self::Int32(Int32Builder::new()),
            HiveType::BigInt => Self::Int64(Int64Builder::new()),
            HiveType::Float => Self::Float32(Float32Builder::new()),
            HiveType::Double => Self::Float64(Float64Builder::new()),
            HiveType::Decimal { .. } => {
                Self::Decimal(Decimal128Builder::new().with_data_type(ty.arrow_type()))
            }
            HiveType::String | HiveType::Char(_) | HiveType::Varchar(_) => {
                Self::Utf8(StringBuilder::new())
            }
            HiveType::Date => Self::Date(Date32Builder::new()),
            HiveType::Timestamp => {
                Self::Timestamp(TimestampMicrosecondBuilder::new().with_data_type(ty.arrow_type()))
            }
            HiveType::Binary => Self::Binary(BinaryBuilder::new()),
            HiveType::Array(element) => {
                let arrow_schema::DataType::List(field) = ty.arrow_type() else {
                    unreachable!("an array maps to a list")
                };
                Self::List {
                    element: field,
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(0),
                    values: Box::new(Self::new(element)),
                }
            }
            HiveType::Map(key, value) => Self::Map {
                entries: Arc::new(map_entries(key, value)),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
                keys: Box::new(Self::new(key)),
                values: Box::new(Self::new(value)),
            },
            HiveType::Struct(fields) => Self::Struct {
                fields: struct_fields(fields),
                nulls: NullBufferBuilder::new(0),
                children: fields.iter().map(|(_, ty)| Self::new(ty)).collect(),
            },
        }
    }

    /// Appends a cell converted for this builder's type. A cell of another kind
    /// (which conversion never produces) is appended as null.
    pub fn append(&mut self, cell: Cell) {
        match (self, cell) {
            (Self::Boolean(b), Cell::Bool(v)) => b.append_value(v),
            (Self::Int8(b), Cell::Int(v)) => b.append_option(i8::try_from(v).ok()),
            (Self::Int16(b), Cell::Int(v)) => b.append_option(i16::try_from(v).ok()),
            (Self::Int32(b), Cell::Int(v)) => b.append_option(i32::try_from(v).ok()),
            (Self::Int64(b), Cell::Int(v)) => b.append_value(v),
            (Self::Float32(b), Cell::Float(v)) => b.append_value(v as f32),
            (Self::Float64(b), Cell::Float(v)) => b.append_value(v),
            (Self::Decimal(b), Cell::Decimal(v)) => b.append_value(v),
            (Self::Utf8(b), Cell::Text(v)) => b.append_value(v),
            (Self::Binary(b), Cell::Bytes(v)) => b.append_value(v),
            (Self::Date(b), Cell::Date(v)) => b.append_value(v),
            (Self::Timestamp(b), Cell::Timestamp(v)) => b.append_value(v),
            (
                Self::List {
                    offsets,
                    nulls,
                    values,
                    ..
                },
                Cell::List(items),
            ) => {
                let count = items.len();
                for item in items {
                    values.append(item);
                }
                push_offset(offsets, count);
                nulls.append_non_null();
            }
            (
                Self::Map {
                    offsets,
                    nulls,
                    keys,
                    values,
                    ..
                },
                Cell::Map(entries),
            ) => {
                let count = entries.len();
                for (key, value) in entries {
                    keys.append(key);
                    values.append(value);
                }
                push_offset(offsets, count);
                nulls.append_non_null();
            }
            (
                Self::Struct {
                    nulls, children, ..
                },
                Cell::Struct(cells),
            ) => {
                for (child, cell) in children.iter_mut().zip(cells) {
                    child.append(cell);
                }
                nulls.append_non_null();
            }
            (builder, _) => builder.append_null(),
        }
    }

    pub fn append_null(&mut self) {
        match self {
            Self::Boolean(b) => b.append_null(),
            Self::Int8(b) => b.append_null(),
            Self::Int16(b) => b.append_null(),
            Self::Int32(b) => b.append_null(),
            Self::Int64(b) => b.append_null(),
            Self::Float32(b) => b.append_null(),
            Self::Float64(b) => b.append_null(),
            Self::Decimal(b) => b.append_null(),
            Self::Utf8(b) => b.append_null(),
            Self::Binary(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::List { offsets, nulls, .. } | Self::Map { offsets, nulls, .. } => {
                push_offset(offsets, 0);
                nulls.append_null();
            }
            Self::Struct {
                nulls, children, ..
            } => {
                // Every child keeps the struct's length.
                for child in children {
                    child.append_null();
                }
                nulls.append_null();
            }
        }
    }

    /// The column built so far; the builder starts empty again.
    pub fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Self::Boolean(b) => Arc::new(b.finish()),
            Self::Int8(b) => Arc::new(b.finish()),
            Self::Int16(b) => Arc::new(b.finish()),
            Self::Int32(b) => Arc::new(b.finish()),
            Self::Int64(b) => Arc::new(b.finish()),
            Self::Float32(b) => Arc::new(b.finish()),
            Self::Float64(b) => Arc::new(b.finish()),
            Self::Decimal(b) => Arc::new(b.finish()),
            Self::Utf8(b) => Arc::new(b.finish()),
            Self::Binary(b) => Arc::new(b.finish()),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
            Self::List {
                element,
                offsets,
                nulls,
                values,
            } => Arc::new(ListArray::try_new(
                element.clone(),
                take_offsets(offsets),
                values.finish()?,
                nulls.finish(),
            )?),
            Self::Map {
                entries,
                offsets,
                nulls,
                keys,
                values,
            } => {
                let arrow_schema::DataType::Struct(fields) = entries.data_type() else {
                    unreachable!("map entries are a struct")
                };
                let entry_array = StructArray::try_new(
                    fields.clone(),
                    vec![keys.finish()?, values.finish()?],
                    None,
                )?;
                Arc::new(MapArray::try_new(
                    entries.clone(),
                    take_offsets(offsets),
                    entry_array,
                    nulls.finish(),
                    false,
                )?)
            }
            Self::Struct {
                fields,
                nulls,
                children,
            } => {
                let arrays = children
                    .iter_mut()
                    .map(ColumnBuilder::finish)
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(StructArray::try_new(
                    fields.clone(),
                    arrays,
                    nulls.finish(),
                )?)
            }
        })
    }
}

fn push_offset(offsets: &mut Vec<i32>, count: usize) {
    let last = offsets.last().copied().unwrap_or(0);
    // Offsets are i32 in Arrow lists: a batch is cut long before 2^31 elements.
    offsets.push(last.saturating_add(i32::try_from(count).unwrap_or(i32::MAX)));
}

fn take_offsets(offsets: &mut Vec<i32>) -> OffsetBuffer<i32> {
    let taken = std::mem::replace(offsets, vec![0]);
    OffsetBuffer::new(ScalarBuffer::from(taken))
}
