//! The command line's reports, under their historical path: everything here is
//! [`crate::cli`]'s (`tokenclock::report::inspect` is `tokenclock::cli::inspect`).

pub use crate::cli::*;
