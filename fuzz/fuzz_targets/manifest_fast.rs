//! Differential: the manifest's block reader either declines or reads exactly what serde_json
//! reads, whatever the block size.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (u8, &[u8])| {
    let (block, bytes) = input;
    if let Err(e) = mtasts::manifest::fast_reader_agrees(bytes, usize::from(block) + 1) {
        panic!("{:?}: {e}", String::from_utf8_lossy(bytes));
    }
});
