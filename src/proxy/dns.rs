//! A minimal DNS stub client for a pinned resolver (`options.resolver`): A and AAAA queries over
//! UDP, retried over TCP when the answer is truncated.
//!
//! Hand-written rather than a resolver crate because the proxy needs only this: one server, two
//! record types, no cache (a cache would only hide rebinding from the tests), and the parsing is
//! small enough to test exhaustively here. The system resolver is used when no server is pinned.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

/// Why a lookup failed, in words that follow "cannot resolve host …: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
  #[error("no such host")]
  NoSuchHost,
  #[error("the DNS server answered with error code {0}")]
  ServerError(u8),
  #[error("the DNS server's answer could not be read ({0})")]
  BadAnswer(&'static str),
  #[error("the name is not a valid DNS name")]
  BadName,
  #[error("the DNS server could not be reached: {0}")]
  Io(String),
}

impl From<io::Error> for DnsError {
  fn from(e: io::Error) -> Self {
    DnsError::Io(e.to_string())
  }
}

/// Resolves `name` at `server`: the A and AAAA addresses, A first. Fails only when both queries
/// fail; a name with no address of either type gives an empty list.
pub async fn lookup(server: SocketAddr, name: &str) -> Result<Vec<IpAddr>, DnsError> {
  let (v4, v6) = tokio::join!(query(server, name, TYPE_A), query(server, name, TYPE_AAAA));
  match (v4, v6) {
    (Ok(mut a), Ok(aaaa)) => {
      a.extend(aaaa);
      Ok(a)
    }
    (Ok(a), Err(_)) => Ok(a),
    (Err(_), Ok(aaaa)) => Ok(aaaa),
    (Err(e), Err(_)) => Err(e),
  }
}

async fn query(server: SocketAddr, name: &str, qtype: u16) -> Result<Vec<IpAddr>, DnsError> {
  let mut id = [0u8; 2];
  SystemRandom::new()
    .fill(&mut id)
    .map_err(|_| DnsError::Io("no randomness for the query id".into()))?;
  let id = u16::from_be_bytes(id);
  let packet = encode_query(id, name, qtype)?;

  let bind: SocketAddr = match server {
    SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
    SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
  };
  let socket = UdpSocket::bind(bind).await?;
  // Connected, so datagrams from any other address are dropped by the kernel.
  socket.connect(server).await?;
  socket.send(&packet).await?;
  let mut buf = vec![0u8; 4096];
  loop {
    let n = socket.recv(&mut buf).await?;
    match decode_answer(&buf[..n], id, name, qtype) {
      // Another query's late answer, or a forgery: wait for ours.
      Err(Mismatch::NotOurs) => continue,
      Err(Mismatch::Truncated) => return query_tcp(server, &packet, id, name, qtype).await,
      Err(Mismatch::Failed(e)) => return Err(e),
      Ok(addrs) => return Ok(addrs),
    }
  }
}

async fn query_tcp(
  server: SocketAddr,
  packet: &[u8],
  id: u16,
  name: &str,
  qtype: u16,
) -> Result<Vec<IpAddr>, DnsError> {
  let mut stream = TcpStream::connect(server).await?;
  let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
  framed.extend_from_slice(packet);
  stream.write_all(&framed).await?;
  let len = stream.read_u16().await? as usize;
  let mut buf = vec![0u8; len];
  stream.read_exact(&mut buf).await?;
  match decode_answer(&buf, id, name, qtype) {
    Ok(addrs) => Ok(addrs),
    Err(Mismatch::Failed(e)) => Err(e),
    Err(_) => Err(DnsError::BadAnswer("it does not answer the question")),
  }
}

/// A query with recursion desired, one question.
fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
  let mut packet = Vec::with_capacity(32 + name.len());
  packet.extend_from_slice(&id.to_be_bytes());
  packet.extend_from_slice(&[0x01, 0x00]); // RD
  packet.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
  encode_name(name, &mut packet)?;
  packet.extend_from_slice(&qtype.to_be_bytes());
  packet.extend_from_slice(&CLASS_IN.to_be_bytes());
  Ok(packet)
}

fn encode_name(name: &str, out: &mut Vec<u8>) -> Result<(), DnsError> {
  let name = name.strip_suffix('.').unwrap_or(name);
  if name.is_empty() || name.len() > 253 {
    return Err(DnsError::BadName);
  }
  for label in name.split('.') {
    if label.is_empty() || label.len() > 63 || !label.is_ascii() {
      return Err(DnsError::BadName);
    }
    out.push(label.len() as u8);
    out.extend_from_slice(label.as_bytes());
  }
  out.push(0);
  Ok(())
}

#[derive(Debug, PartialEq)]
enum Mismatch {
  NotOurs,
  Truncated,
  Failed(DnsError),
}

impl From<DnsError> for Mismatch {
  fn from(e: DnsError) -> Self {
    Mismatch::Failed(e)
  }
}

/// The addresses of type `qtype` in the answer section of the response to query `id` for `name`.
fn decode_answer(packet: &[u8], id: u16, name: &str, qtype: u16) -> Result<Vec<IpAddr>, Mismatch> {
  let bad = |what| Mismatch::Failed(DnsError::BadAnswer(what));
  if packet.len() < 12 {
    return Err(Mismatch::NotOurs);
  }
  let flags = u16::from_be_bytes([packet[2], packet[3]]);
  let is_response = flags & 0x8000 != 0;
  if u16::from_be_bytes([packet[0], packet[1]]) != id || !is_response {
    return Err(Mismatch::NotOurs);
  }
  let count = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
  let (questions, answers) = (count(4), count(6));
  // The question must be ours, or this is an answer to something else.
  let mut expected = Vec::new();
  encode_name(name, &mut expected)?;
  let mut pos = 12;
  if questions != 1 {
    return Err(Mismatch::NotOurs);
  }
  let qname_end = skip_name(packet, pos).ok_or_else(|| bad("a malformed question"))?;
  let question = packet
    .get(qname_end..qname_end + 4)
    .ok_or_else(|| bad("a truncated question"))?;
  if !packet[pos..qname_end].eq_ignore_ascii_case(&expected)
    || question[..2] != qtype.to_be_bytes()
    || question[2..] != CLASS_IN.to_be_bytes()
  {
    return Err(Mismatch::NotOurs);
  }
  pos = qname_end + 4;
  if flags & 0x0200 != 0 {
    return Err(Mismatch::Truncated);
  }
  match (flags & 0x000f) as u8 {
    0 => {}
    3 => return Err(DnsError::NoSuchHost.into()),
    code => return Err(DnsError::ServerError(code).into()),
  }
  let mut addrs = Vec::new();
  for _ in 0..answers {
    pos = skip_name(packet, pos).ok_or_else(|| bad("a malformed record"))?;
    let fixed = packet
      .get(pos..pos + 10)
      .ok_or_else(|| bad("a truncated record"))?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
    let data = packet
      .get(pos + 10..pos + 10 + len)
      .ok_or_else(|| bad("a truncated record"))?;
    pos += 10 + len;
    // CNAME and other records lead to these; the addresses are what the proxy judges.
    if class != CLASS_IN || rtype != qtype {
      continue;
    }
    match (rtype, len) {
      (TYPE_A, 4) => addrs.push(IpAddr::from(<[u8; 4]>::try_from(data).unwrap())),
      (TYPE_AAAA, 16) => addrs.push(IpAddr::from(<[u8; 16]>::try_from(data).unwrap())),
      _ => return Err(bad("an address record of the wrong length")),
    }
  }
  Ok(addrs)
}

/// The position after the (possibly compressed) name starting at `pos`.
fn skip_name(packet: &[u8], mut pos: usize) -> Option<usize> {
  loop {
    let len = *packet.get(pos)? as usize;
    match len & 0xc0 {
      0x00 if len == 0 => return Some(pos + 1),
      0x00 => pos += 1 + len,
      // A pointer ends the name where it stands.
      0xc0 => return packet.get(pos + 1).map(|_| pos + 2),
      _ => return None,
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  /// A response to `query` with `answers` as (type, rdata) records, named by a pointer to the question.
  fn response(query: &[u8], rcode: u8, truncated: bool, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut packet = query.to_vec();
    packet[2] = 0x81 | if truncated { 0x02 } else { 0 };
    packet[3] = 0x80 | rcode;
    packet[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
    for (rtype, data) in answers {
      packet.extend_from_slice(&[0xc0, 12]);
      packet.extend_from_slice(&rtype.to_be_bytes());
      packet.extend_from_slice(&CLASS_IN.to_be_bytes());
      packet.extend_from_slice(&60u32.to_be_bytes());
      packet.extend_from_slice(&(data.len() as u16).to_be_bytes());
      packet.extend_from_slice(data);
    }
    packet
  }

  fn cname(target: &str) -> Vec<u8> {
    let mut data = Vec::new();
    encode_name(target, &mut data).unwrap();
    data
  }

  #[test]
  fn a_query_is_one_question_with_recursion_desired() {
    let q = encode_query(0xbeef, "api.Example.com.", TYPE_A).unwrap();
    assert_eq!(
      q,
      [
        &[0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0][..],
        b"\x03api\x07Example\x03com\x00",
        &[0, 1, 0, 1]
      ]
      .concat()
    );
  }

  #[test]
  fn names_that_dns_cannot_carry_are_refused() {
    for name in [
      "",
      ".",
      "a..b",
      &"x".repeat(64),
      &"a.".repeat(130),
      "bü.example",
    ] {
      assert_eq!(
        encode_query(1, name, TYPE_A),
        Err(DnsError::BadName),
        "{name:?}"
      );
    }
  }

  #[test]
  fn addresses_of_the_asked_type_are_read_past_cnames() {
    let q = encode_query(7, "a.example", TYPE_A).unwrap();
    let r = response(
      &q,
      0,
      false,
      &[
        (5, cname("b.example")),
        (TYPE_A, vec![93, 184, 216, 34]),
        (TYPE_A, vec![127, 0, 0, 1]),
        (TYPE_AAAA, vec![0; 16]),
      ],
    );
    assert_eq!(
      decode_answer(&r, 7, "A.EXAMPLE.", TYPE_A),
      Ok(vec![
        "93.184.216.34".parse().unwrap(),
        "127.0.0.1".parse().unwrap()
      ])
    );
    let q6 = encode_query(8, "a.example", TYPE_AAAA).unwrap();
    let mut v6 = vec![0; 16];
    v6[15] = 1;
    let r6 = response(&q6, 0, false, &[(TYPE_AAAA, v6)]);
    assert_eq!(
      decode_answer(&r6, 8, "a.example", TYPE_AAAA),
      Ok(vec!["::1".parse().unwrap()])
    );
  }

  #[test]
  fn answers_to_other_queries_are_ignored() {
    let q = encode_query(7, "a.example", TYPE_A).unwrap();
    let r = response(&q, 0, false, &[(TYPE_A, vec![1, 2, 3, 4])]);
    assert_eq!(
      decode_answer(&r, 8, "a.example", TYPE_A),
      Err(Mismatch::NotOurs)
    );
    assert_eq!(
      decode_answer(&r, 7, "b.example", TYPE_A),
      Err(Mismatch::NotOurs)
    );
    assert_eq!(
      decode_answer(&r, 7, "a.example", TYPE_AAAA),
      Err(Mismatch::NotOurs)
    );
    assert_eq!(
      decode_answer(&q, 7, "a.example", TYPE_A),
      Err(Mismatch::NotOurs)
    );
    assert_eq!(
      decode_answer(&r[..5], 7, "a.example", TYPE_A),
      Err(Mismatch::NotOurs)
    );
  }

  #[test]
  fn errors_and_truncation_are_reported() {
    let q = encode_query(7, "a.example", TYPE_A).unwrap();
    assert_eq!(
      decode_answer(&response(&q, 3, false, &[]), 7, "a.example", TYPE_A),
      Err(Mismatch::Failed(DnsError::NoSuchHost))
    );
    assert_eq!(
      decode_answer(&response(&q, 2, false, &[]), 7, "a.example", TYPE_A),
      Err(Mismatch::Failed(DnsError::ServerError(2)))
    );
    assert_eq!(
      decode_answer(&response(&q, 0, true, &[]), 7, "a.example", TYPE_A),
      Err(Mismatch::Truncated)
    );
    assert_eq!(
      decode_answer(&response(&q, 0, false, &[]), 7, "a.example", TYPE_A),
      Ok(vec![])
    );
  }

  #[test]
  fn malformed_answers_are_errors_not_panics() {
    let q = encode_query(7, "a.example", TYPE_A).unwrap();
    let good = response(&q, 0, false, &[(TYPE_A, vec![1, 2, 3, 4])]);
    for cut in q.len()..good.len() {
      let result = decode_answer(&good[..cut], 7, "a.example", TYPE_A);
      assert!(
        matches!(result, Err(Mismatch::Failed(DnsError::BadAnswer(_)))),
        "{cut}: {result:?}"
      );
    }
    let short = response(&q, 0, false, &[(TYPE_A, vec![1, 2, 3])]);
    assert!(matches!(
      decode_answer(&short, 7, "a.example", TYPE_A),
      Err(Mismatch::Failed(DnsError::BadAnswer(_)))
    ));
    let mut looped = response(&q, 0, false, &[(TYPE_A, vec![1, 2, 3, 4])]);
    looped[q.len()] = 0x80; // a label length with the reserved bits
    assert!(matches!(
      decode_answer(&looped, 7, "a.example", TYPE_A),
      Err(Mismatch::Failed(DnsError::BadAnswer(_)))
    ));
  }

  #[test]
  fn a_lookup_asks_for_both_families_and_falls_back_to_tcp_when_truncated() {
    crate::io::runtime().block_on(async {
      let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
      let server = udp.local_addr().unwrap();
      let tcp = tokio::net::TcpListener::bind(server).await.unwrap();
      // UDP: A answers truncated, AAAA answers ::1; TCP: A answers 127.0.0.1.
      tokio::spawn(async move {
        let mut buf = [0u8; 512];
        for _ in 0..2 {
          let (n, from) = udp.recv_from(&mut buf).await.unwrap();
          let q = &buf[..n];
          let qtype = u16::from_be_bytes([q[n - 4], q[n - 3]]);
          let r = if qtype == TYPE_A {
            response(q, 0, true, &[])
          } else {
            let mut v6 = vec![0; 16];
            v6[15] = 1;
            response(q, 0, false, &[(TYPE_AAAA, v6)])
          };
          udp.send_to(&r, from).await.unwrap();
        }
      });
      tokio::spawn(async move {
        let (mut stream, _) = tcp.accept().await.unwrap();
        let len = stream.read_u16().await.unwrap() as usize;
        let mut q = vec![0; len];
        stream.read_exact(&mut q).await.unwrap();
        let r = response(&q, 0, false, &[(TYPE_A, vec![127, 0, 0, 1])]);
        stream.write_u16(r.len() as u16).await.unwrap();
        stream.write_all(&r).await.unwrap();
      });
      let addrs = lookup(server, "rebind.example").await.unwrap();
      assert_eq!(
        addrs,
        vec![
          "127.0.0.1".parse::<IpAddr>().unwrap(),
          "::1".parse().unwrap()
        ]
      );
    });
  }
}
