//! The SMTP probe against hostile servers on loopback: each one gives a failure with a reason,
//! within the probe's deadline, never a hang or a panic. (The real MTA is in `smtp.rs`.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mtasts::probe::{Prober, Seen};

/// Serves one connection with `behave` on a fresh loopback port.
fn server(behave: impl FnOnce(TcpStream) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            behave(stream);
        }
    });
    addr
}

/// Reads one command line from the client (up to CRLF).
fn command(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read(&mut byte).unwrap_or(0) == 1 {
        line.push(byte[0]);
        if line.ends_with(b"\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// A greeting and an EHLO reply offering STARTTLS, then `after` once STARTTLS is asked for.
fn up_to_starttls(after: impl FnOnce(&mut TcpStream) + Send + 'static) -> SocketAddr {
    server(move |mut s| {
        s.write_all(b"220 mx.test ESMTP\r\n").unwrap();
        assert!(command(&mut s).starts_with("EHLO "));
        s.write_all(b"250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
            .unwrap();
        assert_eq!(command(&mut s), "STARTTLS\r\n");
        after(&mut s);
    })
}

const STEP: Duration = Duration::from_secs(1);

fn probe(addr: SocketAddr) -> (Seen, Duration) {
    let prober = Prober::new(None, 25, Vec::new(), STEP).unwrap();
    let started = Instant::now();
    let seen = prober.smtp("mx.test", addr, 1_764_288_000).seen;
    (seen, started.elapsed())
}

fn failed_with(seen: &Seen, words: &str) {
    let reason = match seen {
        Seen::Failed(r) => r.to_string(),
        Seen::TlsFailed(r) => r.clone(),
        other => panic!("expected a failure saying {words:?}, got {other:?}"),
    };
    assert!(reason.contains(words), "{reason:?} does not say {words:?}");
}

#[test]
fn hostile_smtp_servers_fail_with_a_reason_within_the_deadline() {
    let deadline = STEP * 3 + Duration::from_millis(900);
    let cases: Vec<(&str, SocketAddr, &str)> = vec![
        (
            "garbage banner",
            server(|mut s| {
                let _ = s.write_all(b"\x16\x03\x01garbage\xff\r\n");
                std::thread::sleep(Duration::from_secs(2));
            }),
            "not an SMTP reply",
        ),
        (
            "10 MB line",
            server(|mut s| {
                let _ = s.write_all(b"220-");
                let chunk = vec![b'a'; 64 * 1024];
                for _ in 0..160 {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                }
            }),
            "a reply line longer than",
        ),
        (
            "silent after accepting",
            server(|_s| std::thread::sleep(Duration::from_secs(6))),
            "no answer within 1 s",
        ),
        (
            "slowloris greeting",
            server(|mut s| {
                for b in b"220-mx.test a very slow greeting that never ends" {
                    if s.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
            }),
            "longer than 3 s in all",
        ),
        (
            "greeting refused",
            server(|mut s| {
                let _ = s.write_all(b"554 go away\r\n");
                std::thread::sleep(Duration::from_secs(1));
            }),
            "the greeting answered 554 go away",
        ),
        (
            "closed at once",
            server(drop),
            "the server closed the connection",
        ),
        (
            "TLS garbage after STARTTLS",
            up_to_starttls(|s| {
                let _ = s.write_all(b"220 go ahead\r\n");
                let mut hello = [0u8; 512];
                let _ = s.read(&mut hello);
                let _ = s.write_all(&[0x42; 4096]);
                std::thread::sleep(Duration::from_secs(1));
            }),
            "corrupt",
        ),
        (
            "data pipelined after the STARTTLS reply",
            up_to_starttls(|s| {
                let _ = s.write_all(b"220 go ahead\r\n250 injected\r\n");
                std::thread::sleep(Duration::from_secs(1));
            }),
            "sent data after its STARTTLS reply",
        ),
        (
            "silent during the handshake",
            up_to_starttls(|s| {
                let _ = s.write_all(b"220 go ahead\r\n");
                std::thread::sleep(Duration::from_secs(6));
            }),
            "no answer during the handshake",
        ),
    ];
    for (what, addr, words) in cases {
        let (seen, took) = probe(addr);
        assert!(took < deadline, "{what}: took {took:?}");
        failed_with(&seen, words);
        eprintln!("{what}: {seen:?} after {took:?}");
    }
}

#[test]
fn a_server_without_starttls_is_told_apart_and_gets_a_quit() {
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = server(move |mut s| {
        s.write_all(b"220 mx.test ESMTP\r\n").unwrap();
        command(&mut s);
        s.write_all(b"250-mx.test\r\n250 8BITMIME\r\n").unwrap();
        let quit = command(&mut s);
        let _ = s.write_all(b"221 bye\r\n");
        tx.send(quit).unwrap();
    });
    let (seen, _) = probe(addr);
    assert_eq!(seen, Seen::NoStarttls);
    assert_eq!(rx.recv_timeout(Duration::from_secs(2)).unwrap(), "QUIT\r\n");
}

#[test]
fn nothing_listening_is_a_connect_failure() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (seen, _) = probe(SocketAddr::from(([127, 0, 0, 1], port)));
    failed_with(&seen, "cannot connect");
}
