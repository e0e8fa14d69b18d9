//! WebAssembly bindings for tokenclock (placeholder: being written).
#![forbid(unsafe_code)]
