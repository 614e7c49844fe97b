//! The SMTP half of a probe: greeting, EHLO, STARTTLS (RFC 3207), with every read bounded in
//! time and size. Reply lines are at most 512 octets by RFC 5321 §4.5.3.1.5; we allow twice
//! that and refuse more, so a server sending a 10 MB line costs 1 KiB.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{Fault, Prober, Seen, printable, tls};

/// Longest reply line we read.
pub(super) const MAX_LINE: usize = 1024;
/// Most lines in one multi-line reply (an EHLO reply has one per extension).
pub(super) const MAX_LINES: usize = 64;
/// The name we greet with: syntactically a host name, and never anyone's (RFC 2606).
const EHLO_NAME: &str = "mtasts-check.invalid";

/// A TCP connection with a bound on the time one step may take.
pub(super) fn connect(address: SocketAddr, step: Duration) -> Result<TcpStream, Fault> {
    let stream = TcpStream::connect_timeout(&address, step).map_err(|e| match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            Fault::ConnectTimeout(step.as_secs())
        }
        _ => Fault::Connect(e.to_string()),
    })?;
    stream.set_nodelay(true).ok();
    Ok(stream)
}

/// One SMTP reply: its code and the text of each line.
struct Reply {
    code: u16,
    lines: Vec<Vec<u8>>,
}

/// What a session talks over: a TCP stream, or (for the fuzz targets) bytes in memory.
trait Wire: Read + Write {
    fn set_read_timeout(&self, timeout: Duration);
    fn set_write_timeout(&self, timeout: Duration);
}

impl Wire for TcpStream {
    fn set_read_timeout(&self, timeout: Duration) {
        TcpStream::set_read_timeout(self, Some(timeout)).ok();
    }

    fn set_write_timeout(&self, timeout: Duration) {
        TcpStream::set_write_timeout(self, Some(timeout)).ok();
    }
}

/// A server's side of the dialogue, as bytes; what we send is dropped.
struct Scripted(std::io::Cursor<Vec<u8>>);

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Wire for Scripted {
    fn set_read_timeout(&self, _: Duration) {}
    fn set_write_timeout(&self, _: Duration) {}
}

struct Session<W: Wire> {
    stream: W,
    buf: Vec<u8>,
    step: Duration,
    deadline: Instant,
}

impl<W: Wire> Session<W> {
    fn timeout(&self) -> Result<Duration, Fault> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.too_long());
        }
        Ok(left.min(self.step))
    }

    fn too_long(&self) -> Fault {
        Fault::Deadline((self.step * 3).as_secs())
    }

    fn line(&mut self) -> Result<Vec<u8>, Fault> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.buf) {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(Fault::LongLine(printable(&self.buf[..60])));
            }
            let timeout = self.timeout()?;
            self.stream.set_read_timeout(timeout);
            let mut chunk = [0u8; 2048];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Fault::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    // Cut by the whole probe's deadline rather than by one step's timeout.
                    if timeout < self.step {
                        return Err(self.too_long());
                    }
                    return Err(Fault::NoAnswer(timeout.as_secs()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Fault::Read(e.to_string())),
            }
        }
    }

    fn reply(&mut self) -> Result<Reply, Fault> {
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            let code = line
                .get(..3)
                .filter(|c| c.iter().all(u8::is_ascii_digit))
                .and_then(|c| std::str::from_utf8(c).ok()?.parse::<u16>().ok())
                .ok_or_else(|| Fault::NotSmtp(printable(&line)))?;
            let more = line.get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or_default().to_vec());
            if !more {
                return Ok(Reply { code, lines });
            }
            if lines.len() >= MAX_LINES {
                return Err(Fault::ManyLines);
            }
        }
    }

    fn send(&mut self, command: &str) -> Result<(), Fault> {
        let timeout = self.timeout()?;
        self.stream.set_write_timeout(timeout);
        self.stream
            .write_all(format!("{command}\r\n").as_bytes())
            .map_err(|e| Fault::Send {
                command: command.to_string(),
                reason: e.to_string(),
            })
    }

    fn expect(&mut self, step: &'static str, code: u16) -> Result<Reply, Fault> {
        let reply = self.reply()?;
        if reply.code != code {
            let text = reply
                .lines
                .first()
                .map(|l| printable(l))
                .unwrap_or_default();
            return Err(Fault::Answered {
                step,
                code: reply.code,
                text,
            });
        }
        Ok(reply)
    }

    fn quit(&mut self) {
        if self.send("QUIT").is_ok() {
            let _ = self.reply();
        }
    }
}

/// Greeting, EHLO, STARTTLS and the handshake; QUIT afterwards in either case.
pub(super) fn starttls(
    prober: &Prober,
    host: &str,
    address: SocketAddr,
    deadline: Instant,
    now: i64,
) -> Seen {
    let stream = match connect(address, prober.step) {
        Ok(s) => s,
        Err(e) => return Seen::Failed(e),
    };
    let mut session = Session {
        stream,
        buf: Vec::new(),
        step: prober.step,
        deadline,
    };
    if let Err(seen) = negotiate(&mut session) {
        return seen;
    }
    tls::handshake(prober, session.stream, host, deadline, now, b"QUIT\r\n")
}

/// Greeting, EHLO and STARTTLS up to the handshake: `Err` is what the probe saw instead.
fn negotiate<W: Wire>(session: &mut Session<W>) -> Result<(), Seen> {
    let offered = (|| {
        session.expect("the greeting", 220)?;
        session.send(&format!("EHLO {EHLO_NAME}"))?;
        let ehlo = session.expect("EHLO", 250)?;
        Ok::<bool, Fault>(ehlo.lines.iter().skip(1).any(|l| {
            l.split(|b| *b == b' ')
                .next()
                .is_some_and(|kw| kw.eq_ignore_ascii_case(b"STARTTLS"))
        }))
    })();
    match offered {
        Err(e) => return Err(Seen::Failed(e)),
        Ok(false) => {
            session.quit();
            return Err(Seen::NoStarttls);
        }
        Ok(true) => {}
    }
    session
        .send("STARTTLS")
        .and_then(|()| session.expect("STARTTLS", 220))
        .map_err(Seen::Failed)?;
    if !session.buf.is_empty() {
        // Data pipelined ahead of the handshake would be read as if protected (CVE-2011-0411).
        return Err(Seen::Failed(Fault::Pipelined(printable(&session.buf))));
    }
    Ok(())
}

/// The SMTP dialogue up to STARTTLS against a server that sends `server` (all of it at once,
/// then closes): what a probe of that server would conclude before the handshake. For the fuzz
/// targets: any bytes end in a verdict, never a panic or a read past the limits.
pub fn dialogue(server: &[u8]) -> String {
    let mut session = Session {
        stream: Scripted(std::io::Cursor::new(server.to_vec())),
        buf: Vec::new(),
        step: Duration::from_secs(1),
        deadline: Instant::now() + Duration::from_secs(10),
    };
    match negotiate(&mut session) {
        Ok(()) => "starttls".into(),
        Err(Seen::NoStarttls) => "no starttls".into(),
        Err(Seen::Failed(fault)) => fault.to_string(),
        Err(_) => "other".into(),
    }
}
