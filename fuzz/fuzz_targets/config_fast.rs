//! `cargo fuzz run config_fast`: the body is `targets::config_fast` (also run on stable by `cargo test`).
#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::config_fast(data));
