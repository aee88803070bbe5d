//! Daemon configurations for tests.

/// A minimal config with one stream; `extra` goes into the stream's table.
pub fn one_stream_config(name: &str, extra: &str) -> String {
    format!(
        "[server]\nlisten = \"{{listen}}\"\n\n[[delivery_streams]]\nname = \"{name}\"\n{extra}\n\
         destination = {{ type = \"local\", path = \"{{dir}}/out\" }}\n"
    )
}
