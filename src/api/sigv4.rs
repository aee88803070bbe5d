//! SigV4 verification of incoming requests (`server.auth.mode = "sigv4"`), as AWS
//! checks them: the `Authorization` header names a known key, a credential scope of
//! the server's region and service `firehose`, the headers it signed (`host`
//! among them); the request time is within 5 minutes of the clock; and the
//! signature over the canonical request, body hash included, is the key's.
//! Errors carry AWS's types, so SDKs raise the exceptions they raise against AWS.

use std::collections::HashMap;

use axum::http::{HeaderMap, Method, Uri};
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{
    AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode, utf8_percent_encode,
};
use sha2::{Digest, Sha256};

use super::{ApiError, ErrorKind};
use crate::config::{AccessKey, AuthConfig, AuthMode};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "firehose";
/// How far a request's time may be from the clock, as AWS allows.
const MAX_SKEW_SECONDS: i64 = 5 * 60;
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The keys requests are checked against; `None` inside when auth is off.
pub struct Verifier {
    keys: Option<HashMap<String, Key>>,
    region: String,
}

struct Key {
    secret: String,
    config: AccessKey,
}

/// A request whose headers passed: its signature is checked once the body is read.
pub struct Pending {
    key_id: String,
    signature: Vec<u8>,
    /// The string to sign, but for the payload hash's place in the canonical request.
    canonical_head: String,
    payload_hash: Option<String>,
    amz_date: String,
    scope: String,
    signing_key: Vec<u8>,
}

impl Verifier {
    /// Reads the keys' secrets (checked by `sluice check` already).
    pub fn new(auth: &AuthConfig, region: &str) -> Result<Self, String> {
        let keys = match auth.mode {
            AuthMode::None => None,
            AuthMode::Sigv4 => Some(
                auth.keys
                    .iter()
                    .map(|k| {
                        let secret = k.secret()?;
                        Ok((
                            k.access_key_id.clone(),
                            Key {
                                secret,
                                config: k.clone(),
                            },
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            ),
        };
        Ok(Self {
            keys,
            region: region.to_string(),
        })
    }

    /// What the headers alone tell: `Ok(None)` when auth is off.
    pub fn check_headers(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        now: DateTime<Utc>,
    ) -> Result<Option<Pending>, ApiError> {
        let Some(keys) = &self.keys else {
            return Ok(None);
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let Some(authorization) = header("authorization") else {
            return Err(ApiError::new(
                ErrorKind::MissingAuthenticationToken,
                "Missing Authentication Token",
            ));
        };
        let fields = parse_authorization(authorization)?;
        let (key_id, scope) = fields.credential.split_once('/').ok_or_else(|| {
            invalid(format!(
                "Credential `{}` is not KEY/SCOPE",
                fields.credential
            ))
        })?;
        let Some(key) = keys.get(key_id) else {
            return Err(ApiError::new(
                ErrorKind::UnrecognizedClient,
                "The security token included in the request is invalid.",
            ));
        };
        let amz_date = header("x-amz-date")
            .ok_or_else(|| invalid("the request has no X-Amz-Date header".into()))?;
        let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| invalid(format!("X-Amz-Date `{amz_date}` is not yyyyMMddTHHmmssZ")))?
            .and_utc();
        let skew = (now - signed_at).num_seconds();
        if skew.abs() > MAX_SKEW_SECONDS {
            return Err(invalid(format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
                (now - chrono::Duration::minutes(5)).format("%Y%m%dT%H%M%SZ"),
                now.format("%Y%m%dT%H%M%SZ")
            )));
        }
        let expected_scope = format!("{}/{}/{SERVICE}/aws4_request", &amz_date[..8], self.region);
        if scope != expected_scope {
            return Err(invalid(format!(
                "Credential should be scoped to `{expected_scope}`, not `{scope}`"
            )));
        }
        let signed: Vec<&str> = fields.signed_headers.split(';').collect();
        if !signed.contains(&"host") {
            return Err(invalid("SignedHeaders must include host".into()));
        }
        let payload_hash = match header("x-amz-content-sha256") {
            Some(UNSIGNED_PAYLOAD) if signed.contains(&"x-amz-content-sha256") => {
                Some(UNSIGNED_PAYLOAD.to_string())
            }
            Some(UNSIGNED_PAYLOAD) => {
                return Err(invalid(
                    "UNSIGNED-PAYLOAD needs x-amz-content-sha256 among the signed headers".into(),
                ));
            }
            _ => None,
        };
        let mut canonical_head = format!(
            "{method}\n{}\n{}\n",
            canonical_uri(uri.path()),
            canonical_query(uri.query().unwrap_or(""))
        );
        for name in &signed {
            let values: Vec<String> = headers
                .get_all(*name)
                .iter()
                .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
                .collect();
            canonical_head.push_str(&format!("{name}:{}\n", values.join(",")));
        }
        canonical_head.push_str(&format!("\n{}\n", fields.signed_headers));
        let signature =
            hex::decode(fields.signature).map_err(|_| invalid("Signature is not hex".into()))?;
        Ok(Some(Pending {
            key_id: key_id.to_string(),
            signature,
            canonical_head,
            payload_hash,
            amz_date: amz_date.to_string(),
            scope: expected_scope,
            signing_key: signing_key(&key.secret, &amz_date[..8], &self.region),
        }))
    }

    /// Whether the key that signed may act on `stream`.
    pub fn allows(&self, pending: Option<&Pending>, stream: &str) -> Result<(), ApiError> {
        let (Some(keys), Some(pending)) = (&self.keys, pending) else {
            return Ok(());
        };
        match keys.get(&pending.key_id) {
            Some(key) if key.config.allows(stream) => Ok(()),
            _ => Err(ApiError::new(
                ErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform this action on delivery stream {stream}",
                    pending.key_id
                ),
            )),
        }
    }
}

impl Pending {
    /// Checks the signature over the request with `body` as sent (before any
    /// `Content-Encoding` is undone).
    pub fn verify(&self, body: &[u8]) -> Result<(), ApiError> {
        let body_hash = hex::encode(Sha256::digest(body));
        let payload_hash = self.payload_hash.as_deref().unwrap_or(&body_hash);
        let canonical = format!("{}{payload_hash}", self.canonical_head);
        let to_sign = format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut mac = hmac(&self.signing_key);
        mac.update(to_sign.as_bytes());
        mac.verify_slice(&self.signature).map_err(|_| {
            invalid(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method."
                    .into(),
            )
        })
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorKind::InvalidSignature, message)
}

struct Authorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

/// `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
fn parse_authorization(value: &str) -> Result<Authorization<'_>, ApiError> {
    let rest = value.strip_prefix(ALGORITHM).ok_or_else(|| {
        ApiError::new(
            ErrorKind::IncompleteSignature,
            format!("Authorization must use {ALGORITHM}"),
        )
    })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) => Ok(Authorization {
            credential,
            signed_headers,
            signature,
        }),
        _ => Err(ApiError::new(
            ErrorKind::IncompleteSignature,
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.",
        )),
    }
}

/// What SigV4 encodes: every byte but the unreserved ones (A-Z a-z 0-9 - _ . ~).
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same but `/`, for paths.
const ENCODED_IN_PATH: &AsciiSet = &ENCODED.remove(b'/');

/// The path as sent, encoded again (as SigV4 does for every service but S3).
fn canonical_uri(path: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    utf8_percent_encode(path, ENCODED_IN_PATH).to_string()
}

/// Query parameters decoded, encoded SigV4's way, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let encode = |text: &str| {
        let bytes: Vec<u8> = percent_decode_str(text).collect();
        percent_encode(&bytes, ENCODED).to_string()
    };
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(k), encode(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header value trimmed, its runs of spaces made one.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

fn signing_key(secret: &str, date: &str, region: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, SERVICE, "aws4_request"] {
        let mut mac = hmac(&key);
        mac.update(part.as_bytes());
        key = mac.finalize().into_bytes().to_vec();
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{
        PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
    };
    use aws_sigv4::sign::v4;
    use std::time::SystemTime;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn verifier() -> Verifier {
        let auth: AuthConfig = serde_json::from_value(serde_json::json!({
            "mode": "sigv4",
            "keys": [{ "access_key_id": "AKID", "secret_access_key": SECRET, "streams": ["logs"] }]
        }))
        .unwrap();
        Verifier::new(&auth, "eu-west-1").unwrap()
    }

    /// A request signed by the aws-sigv4 crate (AWS's own Rust signer).
    fn signed(
        uri: &str,
        body: &[u8],
        region: &str,
        unsigned_payload: bool,
        at: SystemTime,
    ) -> (Method, Uri, HeaderMap) {
        let identity = Credentials::new("AKID", SECRET, None, None, "test").into();
        let mut settings = SigningSettings::default();
        if unsigned_payload {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("firehose")
            .time(at)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let headers = [
            ("host", "sluice.internal:4573"),
            ("x-amz-target", "Firehose_20150804.PutRecord"),
            ("content-type", "application/x-amz-json-1.1"),
        ];
        let body = if unsigned_payload {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(body)
        };
        let request = SignableRequest::new("POST", uri, headers.iter().copied(), body).unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(name, value.parse().unwrap());
        }
        for (name, value) in instructions.headers() {
            map.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let uri: Uri = uri.parse().unwrap();
        (
            Method::POST,
            Uri::from_maybe_shared(uri.path_and_query().unwrap().to_string()).unwrap(),
            map,
        )
    }

    fn check(request: &(Method, Uri, HeaderMap), body: &[u8]) -> Result<(), ApiError> {
        let v = verifier();
        let pending = v.check_headers(&request.0, &request.1, &request.2, Utc::now())?;
        pending.expect("auth is on").verify(body)
    }

    #[test]
    fn what_aws_sigv4_signs_verifies_and_any_change_does_not() {
        let body = br#"{"DeliveryStreamName":"logs","Record":{"Data":"eA=="}}"#;
        let now = SystemTime::now();
        let request = signed(
            "http://sluice.internal:4573/",
            body,
            "eu-west-1",
            false,
            now,
        );
        assert_eq!(check(&request, body), Ok(()));
        let query = signed(
            "http://sluice.internal:4573/delivery-streams/logs/records?b=2&a=x%2Fy",
            body,
            "eu-west-1",
            false,
            now,
        );
        assert_eq!(check(&query, body), Ok(()));

        let tampered = check(
            &request,
            br#"{"DeliveryStreamName":"logs","Record":{"Data":"eQ=="}}"#,
        );
        assert_eq!(tampered.unwrap_err().kind, ErrorKind::InvalidSignature);
        let mut other_target = request.clone();
        other_target.2.insert(
            "x-amz-target",
            "Firehose_20150804.PutRecordBatch".parse().unwrap(),
        );
        assert_eq!(
            check(&other_target, body).unwrap_err().kind,
            ErrorKind::InvalidSignature
        );
        let region = signed(
            "http://sluice.internal:4573/",
            body,
            "us-east-1",
            false,
            now,
        );
        let e = check(&region, body).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidSignature);
        assert!(
            e.message.contains("eu-west-1/firehose/aws4_request"),
            "{}",
            e.message
        );
    }

    #[test]
    fn an_unsigned_payload_is_taken_when_its_header_is_signed() {
        let request = signed(
            "http://sluice.internal:4573/",
            b"",
            "eu-west-1",
            true,
            SystemTime::now(),
        );
        assert_eq!(request.2["x-amz-content-sha256"], UNSIGNED_PAYLOAD);
        assert_eq!(check(&request, b"any body at all"), Ok(()));
    }

    #[test]
    fn the_headers_alone_refuse_missing_unknown_malformed_and_stale() {
        let v = verifier();
        let body = b"{}";
        let now = SystemTime::now();
        let request = signed(
            "http://sluice.internal:4573/",
            body,
            "eu-west-1",
            false,
            now,
        );
        let kind = |headers: &HeaderMap, at: DateTime<Utc>| {
            v.check_headers(&Method::POST, &request.1, headers, at)
                .err()
                .map(|e| e.kind)
        };
        let mut none = request.2.clone();
        none.remove("authorization");
        assert_eq!(
            kind(&none, Utc::now()),
            Some(ErrorKind::MissingAuthenticationToken)
        );
        let mut unknown = request.2.clone();
        let text = unknown["authorization"]
            .to_str()
            .unwrap()
            .replace("AKID/", "OTHER/");
        unknown.insert("authorization", text.parse().unwrap());
        assert_eq!(
            kind(&unknown, Utc::now()),
            Some(ErrorKind::UnrecognizedClient)
        );
        let mut partial = request.2.clone();
        partial.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/x".parse().unwrap(),
        );
        assert_eq!(
            kind(&partial, Utc::now()),
            Some(ErrorKind::IncompleteSignature)
        );
        let later = Utc::now() + chrono::Duration::minutes(6);
        assert_eq!(kind(&request.2, later), Some(ErrorKind::InvalidSignature));
        let sooner = Utc::now() + chrono::Duration::minutes(4);
        assert_eq!(kind(&request.2, sooner), None);
        // A key allowed on `logs` only.
        let pending = v
            .check_headers(&Method::POST, &request.1, &request.2, Utc::now())
            .unwrap();
        assert!(v.allows(pending.as_ref(), "logs").is_ok());
        assert_eq!(
            v.allows(pending.as_ref(), "orders").unwrap_err().kind,
            ErrorKind::AccessDenied
        );
    }
}
