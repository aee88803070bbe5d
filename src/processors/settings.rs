//! The processor contract on the configuration side: what each processor
//! kind's settings tell the rest of Sluice (its Firehose names, its place in
//! Firehose's order, its checks, its parameters as `DescribeDeliveryStream`
//! shows them). The kinds are listed in `kinds`.

use crate::config::{ConfigError, StreamConfig};

/// What each processor kind's settings provide.
pub trait ProcessorKind {
    /// Firehose's `ProcessorType` (`Lambda` for a plugin).
    fn firehose_type(&self) -> &'static str;

    /// Its `type` in the config file.
    fn type_name(&self) -> &'static str;

    /// Its place in Firehose's processing order (contract §6.5).
    fn stage(&self) -> u8;

    /// Whether a stream may list several (plugins chain); every built-in
    /// processor is taken once.
    fn chains(&self) -> bool {
        false
    }

    /// What to do instead of listing a second one, if anything (said after
    /// "a stream takes one ...").
    fn one_per_stream_hint(&self) -> &'static str {
        ""
    }

    /// `sluice check`'s checks, with the stream it is in; `key` turns a key of
    /// the processor (`query`) into its path in the file.
    fn check(&self, s: &StreamConfig, key: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>);

    /// Firehose's `Parameters` for it, as `DescribeDeliveryStream` shows them.
    fn parameters(&self) -> Vec<(&'static str, String)>;
}
