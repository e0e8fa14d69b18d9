//! Python bindings for tokenclock (placeholder: being written).
