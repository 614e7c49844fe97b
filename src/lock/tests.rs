//! The lock file: round trips, pieces, damage, the work lock.

use super::codec::{HEADER, PIECE_DOMAINS};
use super::*;
use crate::error::Error;

fn entry(id: &str, stage: Stage) -> Entry {
    Entry {
        id: id.into(),
        policy_sha256: "0".repeat(64).into(),
        stage,
        mode: Mode::Enforce,
        max_age: 604800,
        mx: vec!["mx.example.net".into()].into(),
        published: crate::clock::from_epoch("1700000000").unwrap(),
        max_age_high: 604800,
        sts_ended: None,
        retiring_since: None,
        remove_after: None,
        previous_id: None,
        previous_sha256: None,
        pin: None,
        certificate: None,
        notices: std::sync::Arc::default(),
    }
}

fn sample() -> Lock {
    let mut lock = Lock::new();
    let mut batched = entry("20250101000000", Stage::Active);
    batched.certificate = Some("mtasts-0001".into());
    lock.domains.insert("b.example".into(), batched);
    lock.domains
        .insert("a.example".into(), entry("7", Stage::Removed));
    lock
}

proptest::proptest! {
    /// Line endings changed anywhere (CRLF, a lone CR, none), the text cut or extended at
    /// its end: the fast lock reader declines or agrees with the TOML parser.
    #[test]
    fn the_fast_reader_never_disagrees_with_toml(
        endings in proptest::collection::vec(
            (0usize..400, proptest::sample::select(vec!["\r\n", "\r", "", "\n\n", " \n"])),
            0..6),
        tail in proptest::sample::select(vec!["", "\r", "\n", "\r\n", " ", "x"]),
        cut in 0usize..4,
    ) {
        let text = sample().to_text();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut ends: Vec<&str> = vec!["\n"; lines.len()];
        for (at, end) in endings {
            ends[at % lines.len()] = end;
        }
        let mut changed = String::new();
        for (line, end) in lines.iter().zip(ends) {
            changed.push_str(line.strip_suffix('\n').unwrap_or(line));
            changed.push_str(end);
        }
        let keep = changed.len().saturating_sub(cut);
        changed.truncate(keep);
        changed.push_str(tail);
        if let Err(e) = Lock::fast_reader_agrees(&changed) {
            proptest::prop_assert!(false, "{e}\n{changed:?}");
        }
    }
}

#[test]
fn the_fast_reader_takes_what_the_writer_writes() {
    assert_eq!(Lock::fast_reader_agrees(&sample().to_text()), Ok(true));
    assert_eq!(Lock::fast_reader_agrees(&big().to_text()), Ok(true));
}

#[test]
fn text_is_sorted_and_round_trips() {
    let text = sample().to_text();
    assert!(text.find("a.example").unwrap() < text.find("b.example").unwrap());
    assert_eq!(text.matches("stage = \"removed\"").count(), 1);
    assert!(
        text.contains("published = \"2023-11-14T22:13:20Z\""),
        "{text}"
    );
    assert_eq!(Lock::parse(&text, "domains.lock").unwrap(), sample());
}

/// Enough domains for several pieces, with every optional field somewhere.
fn big() -> Lock {
    let mut lock = Lock::new();
    for i in 0..2 * PIECE_DOMAINS + 7 {
        let mut e = entry(&format!("{}", 20250101000000u64 + i as u64), Stage::Active);
        if i % 7 == 0 {
            e.previous_id = Some("1".into());
            e.previous_sha256 = Some("1".repeat(64).into());
            e.notices = vec![Notice {
                until: crate::clock::from_epoch("1800000000").unwrap(),
                text: "a \"quoted\" note\nover [domains.\"x\"] two lines".into(),
            }]
            .into();
        }
        if i % 5 == 1 {
            let at = |s: &str| crate::clock::from_epoch(s).unwrap();
            e.stage = Stage::Retiring;
            e.mode = Mode::None;
            e.published = at("1700000000") + chrono::TimeDelta::nanoseconds(729_482_255);
            e.sts_ended = Some(at("1700000001"));
            e.retiring_since = Some(at("1700000002"));
            e.remove_after = Some(at("1700000003"));
            e.previous_id = Some("2".into());
            e.previous_sha256 = Some("2".repeat(64).into());
            e.pin = Some("pin1".into());
            e.certificate = Some("mtasts-0001".into());
            e.mx = vec!["a.example.net".into(), "*.b.example.net".into()].into();
        }
        lock.domains.insert(format!("d{i}.example"), e);
    }
    // A name TOML writes bare, and one it must escape: both left to it.
    lock.domains
        .insert("bare-name".into(), entry("3", Stage::Active));
    lock.domains
        .insert("quote\"d.example".into(), entry("4", Stage::Active));
    lock
}

#[test]
fn pieces_give_the_bytes_and_the_lock_of_one_whole_pass() {
    let lock = big();
    let text = lock.to_text();
    let whole = format!("{HEADER}{}", toml::to_string(&lock).unwrap());
    let at = text
        .bytes()
        .zip(whole.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(text.len().min(whole.len()));
    assert!(
        text == whole,
        "pieces differ from the whole at {at}: {:?} vs {:?}",
        &text[at.saturating_sub(80)..(at + 80).min(text.len())],
        &whole[at.saturating_sub(80)..(at + 80).min(whole.len())]
    );
    assert_eq!(Lock::parse_in_pieces(&text).as_ref(), Some(&lock));
    assert_eq!(Lock::parse(&text, "x").unwrap(), lock);
    // Blocks smaller than a section, of a few sections, and larger than the file.
    for block in [64, 1000, 100_000, text.len() + 1] {
        assert_eq!(
            Lock::read_in_blocks(text.as_bytes(), block).as_ref(),
            Some(&lock),
            "block {block}"
        );
    }
}

#[test]
fn load_reads_a_lock_file_and_reports_a_hand_edit_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("domains.lock");
    assert_eq!(Lock::load(&path, "domains.lock").unwrap(), None);
    std::fs::write(&path, big().to_text()).unwrap();
    assert_eq!(Lock::load(&path, "domains.lock").unwrap(), Some(big()));
    let edited = big()
        .to_text()
        .replace("id = \"20250101000009\"", "id = \"2025-01-01\"");
    std::fs::write(&path, &edited).unwrap();
    let Err(Error::Invalid { problems, .. }) = Lock::load(&path, "domains.lock") else {
        panic!("a bad id must be refused");
    };
    let at = edited.find("d9.example").unwrap();
    assert_eq!(problems[0].span, at..at + "d9.example".len());
}

#[test]
fn the_strict_reader_takes_every_section_the_writer_writes_without_notices() {
    let text = big().to_text();
    let first = text.find("\n[domains.").unwrap() + 1;
    let sections: Vec<String> = text[first..]
        .split("\n[domains.")
        .enumerate()
        .map(|(i, s)| {
            if i == 0 {
                s.into()
            } else {
                format!("[domains.{s}")
            }
        })
        .filter(|s| !s.contains("notices") && s.starts_with("[domains.\"d"))
        .collect();
    // All but the ones with notices and the two odd names.
    assert_eq!(
        sections.len(),
        big().domains.len() - (2 * PIECE_DOMAINS + 7).div_ceil(7) - 2
    );
    for section in &sections {
        assert!(fast::section(section, &mut None).is_some(), "{section}");
    }
}

#[test]
fn a_duplicate_in_another_piece_is_the_whole_parser_s_error() {
    let text = big().to_text();
    let first = text.find("[domains.\"d0.example\"]").unwrap();
    let second = text[first + 1..].find("\n[domains.").unwrap() + first + 2;
    let doubled = format!("{text}\n{}", &text[first..second]);
    assert_eq!(Lock::parse_in_pieces(&doubled), None);
    assert_eq!(Lock::read_in_blocks(doubled.as_bytes(), 1000), None);
    assert!(matches!(
        Lock::parse(&doubled, "x"),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn damaged_lock_is_an_error_not_an_empty_lock() {
    let text = sample().to_text();
    let truncated = &text[..text.len() - 20];
    assert!(matches!(
        Lock::parse(truncated, "x"),
        Err(Error::Invalid { .. })
    ));
    let future = text.replace("version = 1", "version = 2");
    assert!(matches!(
        Lock::parse(&future, "x"),
        Err(Error::Invalid { .. })
    ));
    let bad_id = text.replace("id = \"7\"", "id = \"2024-01-01\"");
    assert!(matches!(
        Lock::parse(&bad_id, "x"),
        Err(Error::Invalid { .. })
    ));
    let unknown = text.replace("version = 1", "version = 1\nextra = 3");
    assert!(matches!(
        Lock::parse(&unknown, "x"),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn work_lock_is_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("domains.toml");
    let no_wait = std::time::Duration::ZERO;
    let first = WorkLock::acquire(&config, no_wait).unwrap();
    assert!(matches!(
        WorkLock::acquire(&config, no_wait),
        Err(Error::Busy(_))
    ));
    drop(first);
    WorkLock::acquire(&config, no_wait).unwrap();
}
