//! Differential: the fast config reader either declines or reads exactly what the TOML parser
//! reads.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Err(e) = mtasts::config::fast_reader_agrees(text) {
        panic!("{text:?}: {e}");
    }
});
