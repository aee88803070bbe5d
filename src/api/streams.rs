//! Finding the stream a request names, as Firehose answers when it cannot.

use super::ApiState;
use super::error::{ApiError, ErrorKind};
use crate::config::is_valid_stream_name;
use crate::pipeline::StreamHandle;

/// Firehose's constraints on `DeliveryStreamName`, as Smithy words them.
pub fn check_stream_name(name: Option<&str>, violations: &mut Vec<String>) {
    let Some(name) = name else {
        violations.push(null_violation("deliveryStreamName"));
        return;
    };
    if is_valid_stream_name(name) {
        return;
    }
    let constraint = if name.is_empty() {
        "Member must have length greater than or equal to 1".to_string()
    } else if name.len() > 64 {
        "Member must have length less than or equal to 64".to_string()
    } else {
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+".to_string()
    };
    violations.push(format!(
        "Value '{name}' at 'deliveryStreamName' failed to satisfy constraint: {constraint}"
    ));
}

/// The running stream `name`. One still starting (its plugins compiling, its
/// spool recovering) is refused as retryable, as a stream being reloaded is.
pub fn find_stream(state: &ApiState, name: &str) -> Result<StreamHandle, ApiError> {
    if let Some(stream) = state.streams.load().get(name) {
        return Ok(stream.clone());
    }
    if state.starting.load().contains(name) {
        return Err(ApiError::new(
            ErrorKind::ServiceUnavailable,
            format!("Firehose {name} is starting; retry shortly."),
        ));
    }
    Err(ApiError::stream_not_found(name, &state.server.account_id))
}

/// The stream named `name`, if it takes direct puts: a stream fed by a file or
/// standard input refuses them, as Firehose refuses puts to a stream with a Kinesis
/// source (its source's checkpoints count on being the only writer).
pub fn find_put_stream(state: &ApiState, name: &str) -> Result<StreamHandle, ApiError> {
    let stream = find_stream(state, name)?;
    let source = stream.config().source.kind();
    if source.takes_puts() {
        return Ok(stream);
    }
    Err(ApiError::new(
        ErrorKind::InvalidArgument,
        format!(
            "This operation is not permitted on a delivery stream whose source is {}.",
            source.type_name()
        ),
    ))
}

/// Smithy's words for a required member that is missing.
pub fn null_violation(member: &str) -> String {
    format!("Value null at '{member}' failed to satisfy constraint: Member must not be null")
}
