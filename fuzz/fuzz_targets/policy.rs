//! `cargo fuzz run policy`: the body is `targets::policy` (also run on stable by `cargo test`).
#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::policy(data));
