//! `cargo fuzz run records`: the body is `targets::records` (also run on stable by `cargo test`).
#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::records(data));
