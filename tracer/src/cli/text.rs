//! The terminal text helpers the commands share; they live in [`crate::render::text`].

pub use crate::render::text::{bytes, display, duration, shell_word, signal_name, time_of_day};
