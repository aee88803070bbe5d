//! Firehose's error responses: `{"__type": ..., "message": ...}` with the status
//! SDKs expect (400 for client errors; 5xx for `ServiceUnavailableException`, which
//! is the only way SDKs know to retry it).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AMZ_JSON, request_id_header};
use crate::sources::direct_put::NotTaken;

/// An error answer of the Firehose API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

/// Firehose's error types (`__type`), each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    ResourceNotFound,
    InvalidArgument,
    Validation,
    Serialization,
    ServiceUnavailable,
    UnknownOperation,
    InternalFailure,
    /// A body that decodes past its cap (413).
    TooLarge,
    /// A `Content-Encoding` that is not decoded (415).
    UnsupportedEncoding,
    /// A body that did not arrive within `server.body_timeout_seconds` (408).
    RequestTimeout,
    /// SigV4: no `Authorization` header (403).
    MissingAuthenticationToken,
    /// SigV4: an access key that is not configured.
    UnrecognizedClient,
    /// SigV4: a wrong signature, scope or a time over 5 minutes off.
    InvalidSignature,
    /// SigV4: an `Authorization` header without its parts.
    IncompleteSignature,
    /// SigV4: a key not allowed on the stream.
    AccessDenied,
}

impl ErrorKind {
    pub fn type_name(self) -> &'static str {
        match self {
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::InvalidArgument => "InvalidArgumentException",
            Self::Validation => "ValidationException",
            Self::Serialization => "SerializationException",
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::InternalFailure => "InternalFailure",
            Self::TooLarge | Self::UnsupportedEncoding => "InvalidArgumentException",
            Self::RequestTimeout => "RequestTimeoutException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::InvalidSignature => "InvalidSignatureException",
            Self::IncompleteSignature => "IncompleteSignatureException",
            Self::AccessDenied => "AccessDeniedException",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MissingAuthenticationToken => StatusCode::FORBIDDEN,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Firehose's own text for an unknown stream.
    pub fn stream_not_found(name: &str, account: &str) -> Self {
        Self::new(
            ErrorKind::ResourceNotFound,
            format!("Firehose {name} under account {account} not found."),
        )
    }

    /// Smithy's constraint message: `N validation error(s) detected: a; b`.
    pub fn validation(violations: &[String]) -> Self {
        let n = violations.len();
        let noun = if n == 1 { "error" } else { "errors" };
        Self::new(
            ErrorKind::Validation,
            format!("{n} validation {noun} detected: {}", violations.join("; ")),
        )
    }

    pub fn serialization(detail: impl std::fmt::Display) -> Self {
        Self::new(ErrorKind::Serialization, detail.to_string())
    }
}

/// Records the direct-PUT source did not take: the producer retries them.
impl From<NotTaken> for ApiError {
    fn from(NotTaken(message): NotTaken) -> Self {
        Self::new(ErrorKind::ServiceUnavailable, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.kind.type_name(), "message": self.message });
        let mut response = (self.kind.status(), body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
        headers.insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static(self.kind.type_name()),
        );
        headers.insert("x-amzn-RequestId", request_id_header());
        response
    }
}
