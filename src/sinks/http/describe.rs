//! How `DescribeDeliveryStream` shows an HTTP endpoint destination.

use serde_json::{Value, json};

use super::{HttpContentEncoding, HttpDestination};

impl HttpDestination {
    /// Firehose's `HttpEndpointDestinationDescription`: `name` is the
    /// endpoint's, `s3` the error destination as its S3 configuration, `backup`
    /// whether every record is also written there (`AllData`).
    pub fn endpoint_description(
        &self,
        name: &str,
        processing: Value,
        backup: bool,
        s3: Value,
    ) -> Value {
        json!({
            "ProcessingConfiguration": processing,
            "EndpointConfiguration": { "Url": self.url, "Name": name },
            "BufferingHints": s3["BufferingHints"].clone(),
            "RequestConfiguration": {
                "ContentEncoding": match self.content_encoding {
                    HttpContentEncoding::None => "NONE",
                    HttpContentEncoding::Gzip => "GZIP",
                },
                "CommonAttributes": self.common_attributes.iter()
                    .map(|(k, v)| json!({ "AttributeName": k, "AttributeValue": v }))
                    .collect::<Vec<_>>(),
            },
            "RetryOptions": { "DurationInSeconds": self.retry_duration_seconds },
            "S3BackupMode": if backup { "AllData" } else { "FailedDataOnly" },
            "S3DestinationDescription": s3,
        })
    }
}
