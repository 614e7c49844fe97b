//! The TXT record parsers and the zone-string reader on arbitrary text: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = mtasts::records::parse_sts(text);
    let _ = mtasts::records::parse_tlsrpt(text);
    if let Some(value) = mtasts::records::txt_value(text) {
        let _ = mtasts::records::txt_rdata(&value);
    }
    assert_eq!(mtasts::records::txt_value(&mtasts::records::txt_rdata(text)).as_deref(), Some(text));
});
