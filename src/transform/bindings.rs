//! Rust types and glue generated from `transforms/wit/transformer.wit`.

wasmtime::component::bindgen!({
    path: "transforms/wit",
    world: "transformer",
});
