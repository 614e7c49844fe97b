//! The fuzz targets on the stable toolchain: each runs its committed seeds and regressions, then
//! mutations of them for a bounded time (`MTASTS_FUZZ_SECONDS`, default 2; CI gives each 10),
//! one target at a time.
//! No coverage feedback (that needs `cargo fuzz` on nightly, with the same target bodies); the
//! mutations are byte flips, inserts, deletes, splices and tokens the parsers care about.
//! An input that panics is saved under `target/fuzz-findings/<target>/` and the test fails
//! naming it: commit it to `fuzz/regressions/<target>/` with the fix.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../../fuzz/targets.rs"]
mod targets;

/// Largest input generated (the parsers' own limits are tested elsewhere).
const MAX_INPUT: usize = 64 * 1024;

/// Tokens worth inserting: structure of TOML, JSON, MIME, SMTP and policies, and numbers at
/// the edges of what the parsers hold.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"=",
    b"\\",
    b"\\u0000",
    b"\r\n",
    b"\n",
    b"\0",
    b"-1",
    b"1.5",
    b"1e309",
    b"18446744073709551615",
    b"18446744073709551616",
    b"9007199254740993",
    b"-9223372036854775808",
    b"[domains.\"",
    b"\"]\n",
    b"mode = \"enforce\"\n",
    b"mx = [\"*.",
    b"\"policies\":[",
    b"\"total-successful-session-count\":",
    b"\"failed-session-count\":",
    b"\"policy-domain\":\"",
    b"\xc3\xbc",
    b"xn--",
    b"\x1b[2J",
    b"\xe2\x80\xae",
    b"250-",
    b"250 ",
    b"220 ",
    b"STARTTLS",
    b"Content-Type: application/tlsrpt+gzip\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"--b1\r\n",
    b"\x1f\x8b\x08\x00",
    b"version: STSv1\r\n",
    b"mx: ",
    b"max_age: ",
    b"id=",
    b"+262143-12-31T23:59:59Z",
    b"9999-12-31T23:59:59Z",
];

/// xorshift64*: reproducible from its seed, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(input.len() + 1);
        match rng.below(7) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.next() as u8;
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                input.splice(at..at, token.iter().copied());
            }
            3 if !input.is_empty() => {
                let end = (at + rng.below(64)).min(input.len());
                input.drain(at.min(end)..end);
            }
            4 if !input.is_empty() => {
                let from = rng.below(input.len());
                let end = (from + rng.below(256)).min(input.len());
                let copy = input[from..end].to_vec();
                let times = 1 + rng.below(16);
                for _ in 0..times {
                    input.splice(at..at, copy.iter().copied());
                }
            }
            5 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let end = (from + rng.below(512)).min(other.len());
                input.splice(at..at, other[from..end].iter().copied());
            }
            _ => input.insert(at, rng.next() as u8),
        }
        input.truncate(MAX_INPUT);
    }
}

/// Runs `target` on `input`; a panic saves the input and fails the test naming it.
fn run_one(name: &str, target: fn(&[u8]), input: &[u8]) {
    if std::panic::catch_unwind(|| target(input)).is_ok() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/fuzz-findings")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let digest: u64 = input.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("{digest:016x}"));
    std::fs::write(&path, input).unwrap();
    panic!(
        "fuzz target {name} panicked on {} ({} bytes): {:?}",
        path.display(),
        input.len(),
        String::from_utf8_lossy(&input[..input.len().min(200)])
    );
}

/// One fuzzer at a time: they are CPU-bound, and the servers other tests start must not be
/// starved of the machine's cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn fuzz(name: &str) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let target = targets::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no target {name}"))
        .1;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = files(&root.join("seeds").join(name));
    assert!(!seeds.is_empty(), "fuzz/seeds/{name}/ has no seed");
    for input in seeds
        .iter()
        .chain(&files(&root.join("regressions").join(name)))
    {
        run_one(name, target, input);
    }
    let seconds: u64 = std::env::var("MTASTS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let seed: u64 = std::env::var("MTASTS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6d74_6173_7473);
    let mut rng = Rng(seed
        ^ name
            .bytes()
            .fold(1u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let mut input = if rng.below(8) == 0 {
            Vec::new()
        } else {
            seeds[rng.below(seeds.len())].clone()
        };
        mutate(&mut rng, &mut input, &seeds);
        run_one(name, target, &input);
        runs += 1;
    }
    eprintln!("fuzz {name}: {runs} inputs in {seconds} s, no panic");
    assert!(runs > 0 || seconds == 0);
}

#[test]
fn fuzz_config() {
    fuzz("config");
}

#[test]
fn fuzz_config_fast() {
    fuzz("config_fast");
}

#[test]
fn fuzz_lock_fast() {
    fuzz("lock_fast");
}

#[test]
fn fuzz_manifest_fast() {
    fuzz("manifest_fast");
}

#[test]
fn fuzz_policy() {
    fuzz("policy");
}

#[test]
fn fuzz_records() {
    fuzz("records");
}

#[test]
fn fuzz_report() {
    fuzz("report");
}

#[test]
fn fuzz_email() {
    fuzz("email");
}

#[test]
fn fuzz_smtp() {
    fuzz("smtp");
}

#[test]
fn fuzz_https() {
    fuzz("https");
}

#[test]
fn every_target_has_a_test_here_and_a_cargo_fuzz_binary() {
    let here = include_str!("fuzz.rs");
    let manifest = include_str!("../../fuzz/Cargo.toml");
    for (name, _) in targets::TARGETS {
        assert!(
            here.contains(&format!("fuzz(\"{name}\")")),
            "{name}: no test"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name}: no binary"
        );
    }
}
