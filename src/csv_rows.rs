//! CSV output (`records --format csv`, `report --format csv`): rows written by the csv crate,
//! so quoting follows RFC 4180 without a hand-written rule.

/// The rows as CSV text, one line each (`\n`), fields quoted where RFC 4180 needs it.
pub(crate) fn csv<const N: usize>(rows: impl IntoIterator<Item = [String; N]>) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    for row in rows {
        // Writing into memory cannot fail.
        writer.write_record(&row).expect("CSV into memory");
    }
    let bytes = writer.into_inner().expect("CSV into memory");
    String::from_utf8(bytes).expect("CSV of strings is UTF-8")
}
