//! The TLS-RPT report parser and carriers on arbitrary bytes: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(jsons) = mtasts::report::unpack(bytes, true) {
        for json in jsons {
            if let Ok(report) = mtasts::report::parse(&json) {
                let _ = mtasts::report::summarise(&[report]);
            }
        }
    }
    let _ = mtasts::report::parse(bytes);
});
