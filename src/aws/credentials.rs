//! AWS credentials (and region) from where the AWS tools look for them: a profile of the shared
//! credentials file, or the standard environment variables. Secrets stay in
//! [`Secret`]s, never logged.

use std::path::PathBuf;

use crate::config::Secret;

/// The region when none is configured, as the AWS tools choose it.
const DEFAULT_REGION: &str = "us-east-1";

/// The region to sign for: the configured one, else `AWS_REGION`,
/// `AWS_DEFAULT_REGION`, or `us-east-1`.
pub fn region(configured: Option<&str>) -> String {
    configured
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| DEFAULT_REGION.into())
}

/// An access key, its secret and an optional session token.
#[derive(Debug, Clone)]
pub struct StaticKeys {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl StaticKeys {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Option<Self> {
        Some(Self {
            access_key_id: std::env::var("AWS_ACCESS_KEY_ID").ok()?,
            secret_access_key: Secret::new(std::env::var("AWS_SECRET_ACCESS_KEY").ok()?),
            session_token: std::env::var("AWS_SESSION_TOKEN").ok().map(Secret::new),
        })
    }
}

/// The shared credentials file: `AWS_SHARED_CREDENTIALS_FILE`, or `~/.aws/credentials`.
fn credentials_file() -> Option<PathBuf> {
    std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")))
}

/// Reads `profile`'s keys from the shared credentials file (an INI file).
pub fn profile_keys(profile: &str) -> Result<StaticKeys, String> {
    let path = credentials_file().ok_or("no shared credentials file (HOME is not set)")?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("profile `{profile}`: cannot read {}: {e}", path.display()))?;
    let ini = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Ini))
        .build()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let key = |name: &str| ini.get_string(&format!("{profile}.{name}")).ok();
    match (key("aws_access_key_id"), key("aws_secret_access_key")) {
        (Some(access_key_id), Some(secret)) => Ok(StaticKeys {
            access_key_id,
            secret_access_key: Secret::new(secret),
            session_token: key("aws_session_token").map(Secret::new),
        }),
        _ => Err(format!(
            "profile `{profile}` in {} has no aws_access_key_id and aws_secret_access_key",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_s_keys_are_read_from_the_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s1\n\n\
             [sluice]\naws_access_key_id=AKSLUICE\naws_secret_access_key=s2\naws_session_token=t2\n",
        )
        .unwrap();
        // SAFETY: this test alone reads the variable, and sets it before any thread does.
        unsafe { std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &file) };
        let keys = profile_keys("sluice").unwrap();
        assert_eq!(keys.access_key_id, "AKSLUICE");
        assert_eq!(keys.secret_access_key.expose(), "s2");
        assert_eq!(
            keys.session_token.map(|t| t.expose().to_string()),
            Some("t2".into())
        );
        let missing = profile_keys("nope").err().unwrap();
        assert!(missing.contains("profile `nope`"), "{missing}");
    }
}
