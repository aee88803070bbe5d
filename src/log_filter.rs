//! The log's filter: `SLUICE_LOG`, in tracing's `EnvFilter` syntax (`info`,
//! `info,sluice=debug`, `warn,sluice::transform=trace`), `info` when unset.
//!
//! The WebAssembly compiler logs every function it compiles at debug level: with
//! `SLUICE_LOG=debug`, one Python plugin made some 730,000 lines. Its crates stay
//! at `warn` unless the filter names them.

use tracing_subscriber::EnvFilter;

/// The compiler's crates, kept at `warn` unless named.
const COMPILER: &[&str] = &[
    "cranelift_codegen",
    "cranelift_frontend",
    "cranelift_entity",
    "regalloc2",
    "wasmtime_internal_cranelift",
    "wasmtime_internal_cranelift_shared",
    "wasmtime_internal_environ",
    "wasmtime_environ",
    "wasmtime_cranelift",
];

/// The directives for `spec` (the value of `SLUICE_LOG`, if set).
pub fn directives(spec: Option<&str>) -> String {
    let spec = spec
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("info");
    let mut directives = spec.to_string();
    for target in COMPILER {
        if !spec.contains(target) {
            directives.push_str(&format!(",{target}=warn"));
        }
    }
    directives
}

/// The filter for `SLUICE_LOG`; one that does not parse is reported on stderr and
/// `info` is used.
pub fn from_env() -> EnvFilter {
    let spec = std::env::var("SLUICE_LOG").ok();
    EnvFilter::try_new(directives(spec.as_deref())).unwrap_or_else(|e| {
        eprintln!("SLUICE_LOG is not a valid filter ({e}); logging at info");
        EnvFilter::new(directives(None))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiler_is_quiet_unless_named() {
        let d = directives(Some("debug"));
        assert!(d.starts_with("debug,cranelift_codegen=warn,"), "{d}");
        assert!(directives(None).starts_with("info,"));
        let named = directives(Some("debug,cranelift_codegen=trace"));
        assert!(!named.contains("cranelift_codegen=warn"), "{named}");
        assert!(named.contains("regalloc2=warn"), "{named}");
        assert!(EnvFilter::try_new(directives(Some("info,sluice=debug"))).is_ok());
    }
}
