//! Differential: the fast lock reader either declines or reads exactly what the TOML parser
//! reads.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Err(e) = mtasts::state::Lock::fast_reader_agrees(text) {
        panic!("{text:?}: {e}");
    }
});
