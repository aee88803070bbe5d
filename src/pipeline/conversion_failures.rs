//! Which records of a batch do not convert to the stream's format: their
//! error lines are found when the batch of them is encoded
//! (`crate::error_output::conversion_error_lines`).

use super::buffer::SealedBatch;
use crate::encode::parquet::{ConversionError, MALFORMED_DATA, ParquetEncoder};

/// The records of a batch that do not convert, by position, with their errors.
/// The batch holds the failing records (or, rebuilt after a restart, all the data
/// batch's records): converting each again gives its error.
pub fn conversion_failures(
    batch: &SealedBatch,
    parquet: Option<&ParquetEncoder>,
) -> Vec<(usize, ConversionError)> {
    batch
        .iter()
        .enumerate()
        .filter_map(|(i, (data, _))| {
            let error = match parquet {
                Some(parquet) => parquet.check(data).err()?,
                // The format was turned off since: the reason is no longer known.
                None => ConversionError {
                    code: MALFORMED_DATA,
                    message:
                        "The record did not convert to the stream's format (no longer configured)"
                            .into(),
                },
            };
            Some((i, error))
        })
        .collect()
}
