//! Basic proxy authentication: every request must carry one of the configured credential pairs in
//! `Proxy-Authorization`.
//!
//! Credentials are compared as SHA-256 digests with a constant-time equality, against every
//! configured pair each time, so the time a check takes says nothing about how much of a guess
//! was right, how long the secret is, or which pair matched.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::digest::{digest, SHA256};
use subtle::{Choice, ConstantTimeEq};

/// The `Proxy-Authenticate` challenge sent with every 407.
pub const CHALLENGE: &str = "Basic realm=\"backend-scripts egress\"";

/// The configured credential pairs, kept as digests of `username:password`.
#[derive(Clone)]
pub struct Credentials {
  entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
  username: String,
  digest: [u8; 32],
}

impl fmt::Debug for Credentials {
  /// Names the users, never the passwords.
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.debug_list()
      .entries(self.entries.iter().map(|e| &e.username))
      .finish()
  }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
  /// No `Proxy-Authorization` header.
  Missing,
  /// A header that is not `Basic` with base64 of `username:password`.
  Malformed,
  /// Well-formed credentials that match no configured pair; carries the user name tried.
  Refused { username: String },
}

impl AuthFailure {
  /// The user name the client tried, when it sent one (for the decision log; never the password).
  pub fn username(&self) -> Option<&str> {
    match self {
      AuthFailure::Refused { username } => Some(username),
      _ => None,
    }
  }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
  let mut out = [0; 32];
  out.copy_from_slice(digest(&SHA256, bytes).as_ref());
  out
}

impl Credentials {
  /// Validates the pairs; the error reads after the option's name ("must …").
  pub fn new(pairs: &[(String, String)]) -> Result<Self, String> {
    if pairs.is_empty() {
      return Err("must hold at least one { username, password } pair".into());
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(pairs.len());
    for (index, (username, password)) in pairs.iter().enumerate() {
      if username.is_empty() || username.contains(':') {
        return Err(format!(
          "must have user names that are not empty and contain no ':' (Basic authentication \
           cannot carry one); entry {index} does not"
        ));
      }
      if password.is_empty() {
        return Err(format!(
          "must have passwords that are not empty; entry {index} has none"
        ));
      }
      if username
        .chars()
        .chain(password.chars())
        .any(char::is_control)
      {
        return Err(format!(
          "must have user names and passwords without control characters; entry {index} has one"
        ));
      }
      if entries.iter().any(|e| e.username == *username) {
        return Err(format!(
          "must name each user once; {username:?} appears twice"
        ));
      }
      entries.push(Entry {
        username: username.clone(),
        digest: sha256(format!("{username}:{password}").as_bytes()),
      });
    }
    Ok(Credentials { entries })
  }

  /// Checks a request's `Proxy-Authorization` value; on success, the index of the pair it
  /// matched (in the order given to [`Credentials::new`]).
  pub fn check(&self, header: Option<&[u8]>) -> Result<usize, AuthFailure> {
    let decoded = decode_basic(header.ok_or(AuthFailure::Missing)?)?;
    let given = sha256(&decoded);
    let mut matched: Option<usize> = None;
    for (index, entry) in self.entries.iter().enumerate() {
      let equal: Choice = entry.digest.ct_eq(&given);
      // Every entry is compared; only the outcome is branched on.
      if bool::from(equal) {
        matched = Some(index);
      }
    }
    matched.ok_or_else(|| AuthFailure::Refused {
      username: tried_username(&decoded),
    })
  }
}

/// The user name part of decoded `username:password`, for logs.
fn tried_username(decoded: &[u8]) -> String {
  let name = decoded.split(|&b| b == b':').next().unwrap_or_default();
  String::from_utf8_lossy(name).chars().take(128).collect()
}

/// `Basic <base64>` (scheme in any case, spaces around the token) to the decoded bytes.
fn decode_basic(value: &[u8]) -> Result<Vec<u8>, AuthFailure> {
  let value = std::str::from_utf8(value).map_err(|_| AuthFailure::Malformed)?;
  let (scheme, token) = value.trim().split_once(' ').ok_or(AuthFailure::Malformed)?;
  if !scheme.eq_ignore_ascii_case("basic") {
    return Err(AuthFailure::Malformed);
  }
  let decoded = STANDARD
    .decode(token.trim())
    .map_err(|_| AuthFailure::Malformed)?;
  if !decoded.contains(&b':') {
    return Err(AuthFailure::Malformed);
  }
  Ok(decoded)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn creds() -> Credentials {
    Credentials::new(&[
      ("app".into(), "s3cret".into()),
      ("other".into(), "pa:ss".into()),
    ])
    .unwrap()
  }

  fn basic(userpass: &str) -> String {
    format!("Basic {}", STANDARD.encode(userpass))
  }

  #[test]
  fn a_configured_pair_authenticates_as_its_user() {
    let c = creds();
    assert_eq!(c.check(Some(basic("app:s3cret").as_bytes())), Ok(0));
    assert_eq!(c.check(Some(basic("other:pa:ss").as_bytes())), Ok(1));
    let lower = format!("basic {}", STANDARD.encode("app:s3cret"));
    assert_eq!(c.check(Some(lower.as_bytes())), Ok(0));
    let spaced = format!("  BASIC   {}  ", STANDARD.encode("app:s3cret"));
    assert_eq!(c.check(Some(spaced.as_bytes())), Ok(0));
  }

  #[test]
  fn wrong_or_crossed_credentials_are_refused_naming_the_user_tried() {
    let c = creds();
    for (pair, user) in [
      ("app:wrong", "app"),
      ("app:s3cre", "app"),
      ("app:s3cret ", "app"),
      ("APP:s3cret", "APP"),
      ("other:s3cret", "other"),
      ("app:pa:ss", "app"),
      (":s3cret", ""),
      ("nobody:x", "nobody"),
    ] {
      assert_eq!(
        c.check(Some(basic(pair).as_bytes())),
        Err(AuthFailure::Refused {
          username: user.into()
        }),
        "{pair}"
      );
    }
  }

  #[test]
  fn a_missing_or_malformed_header_is_refused() {
    let c = creds();
    assert_eq!(c.check(None), Err(AuthFailure::Missing));
    let token = STANDARD.encode("app:s3cret");
    for header in [
      String::new(),
      "Basic".into(),
      token.clone(),
      format!("Bearer {token}"),
      format!("Digest {token}"),
      "Basic !!notbase64!!".into(),
      format!("Basic {}", STANDARD.encode("no-colon")),
      format!("Basic {}", &token[..token.len() - 1]),
    ] {
      assert_eq!(
        c.check(Some(header.as_bytes())),
        Err(AuthFailure::Malformed),
        "{header:?}"
      );
    }
    assert_eq!(
      c.check(Some(b"Basic \xff\xfe")),
      Err(AuthFailure::Malformed)
    );
  }

  #[test]
  fn invalid_pairs_are_rejected_when_configured() {
    let bad = |u: &str, p: &str| Credentials::new(&[(u.into(), p.into())]).unwrap_err();
    assert!(Credentials::new(&[]).is_err());
    assert!(bad("", "x").contains("not empty"));
    assert!(bad("a:b", "x").contains("':'"));
    assert!(bad("a", "").contains("passwords"));
    assert!(bad("a\n", "x").contains("control"));
    let twice = Credentials::new(&[("a".into(), "x".into()), ("a".into(), "y".into())]);
    assert!(twice.unwrap_err().contains("twice"));
  }

  #[test]
  fn debug_output_never_shows_a_password() {
    let text = format!("{:?}", creds());
    assert_eq!(text, r#"["app", "other"]"#);
  }
}
