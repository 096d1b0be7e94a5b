//! The fuzz targets' entry points (`fuzz/`): the code that takes hostile input, each with the
//! properties its target asserts beyond "no panic". Compiled only with the `fuzzing` feature.

use std::net::IpAddr;

use crate::page::extract::{find_cuts, without_cuts};
use crate::page::Page;
use crate::policy::{classify_addr, EgressPolicy, TargetHost};

/// The page extractor: cuts are ordered, disjoint and on character boundaries, each block lies
/// inside its cut, and a page that prepares leaves no backend block (not even a commented one)
/// in the template it renders.
pub fn extract(page: &str) {
  let cuts = find_cuts(page);
  let mut end = 0;
  for cut in &cuts {
    assert!(
      cut.range.start >= end && cut.range.start < cut.range.end && cut.range.end <= page.len()
    );
    assert!(page.is_char_boundary(cut.range.start) && page.is_char_boundary(cut.range.end));
    if let Some(script) = &cut.script {
      assert!(cut.range.start <= script.start && script.end <= cut.range.end);
      assert!(page.is_char_boundary(script.start) && page.is_char_boundary(script.end));
    }
    end = cut.range.end;
  }
  if Page::parse(page).is_ok() {
    let template = without_cuts(page, &cuts);
    assert_eq!(
      find_cuts(&template),
      vec![],
      "the template still holds a backend block"
    );
  }
}

/// Template compile and render, with the variables the first line gives (JSON), as a page's
/// script would set them: bounded by fuel and output size; a stack overflow or a panic is a
/// failure of the target.
pub fn template(input: &str) {
  let (variables, text) = input.split_once('\n').unwrap_or(("", input));
  let variables = crate::json::parse_value(variables).unwrap_or_else(|_| {
    serde_json::json!({ "flag": true, "none": null, "n": 1.5, "list": [1, "<b>"], "o": { "a": "&" } })
  });
  let Ok(page) = Page::parse(text) else { return };
  if let Ok(body) = page.template.render(&variables, 1 << 20) {
    assert!(body.len() <= 1 << 20);
  }
}

/// The egress policy: nothing it allows is an address of a special-purpose range, however the
/// URL, the authority or the address is spelled.
pub fn policy(input: &[u8]) {
  let policy = EgressPolicy::default();
  let allowed_ip = |host: &TargetHost| match host {
    TargetHost::Ip(ip) => assert_allowed(&policy, *ip),
    TargetHost::Domain(name) => assert!(!name.is_empty()),
  };
  if let Ok(text) = std::str::from_utf8(input) {
    if let Ok(target) = policy.check_url(text) {
      allowed_ip(&target.host);
      let url = target.url.as_ref().expect("a checked URL keeps its parse");
      assert!(matches!(url.scheme(), "http" | "https"));
      assert!(url.username().is_empty() && url.password().is_none());
    }
    if let Ok(target) = policy.check_authority(text) {
      allowed_ip(&target.host);
    }
  }
  let ip = match input.len() {
    4 => Some(IpAddr::from(
      <[u8; 4]>::try_from(input).expect("four bytes"),
    )),
    16 => Some(IpAddr::from(
      <[u8; 16]>::try_from(input).expect("sixteen bytes"),
    )),
    _ => None,
  };
  if let Some(ip) = ip {
    if policy.check_addr(ip).is_ok() {
      assert_allowed(&policy, ip);
    }
  }
}

fn assert_allowed(policy: &EgressPolicy, ip: IpAddr) {
  assert!(
    policy.check_addr(ip).is_ok(),
    "{ip} passed as a host but not as an address"
  );
  assert!(classify_addr(ip).is_none(), "{ip} is special-purpose");
  assert!(
    classify_addr(ip.to_canonical()).is_none(),
    "{ip} leads to a special-purpose address"
  );
}

/// Request and response headers, redirect targets: what passes is a token name and a value
/// without CR, LF or NUL, never a framing header, and a redirect stays a path of the site or an
/// absolute http(s) URL.
pub fn headers(input: &str) {
  let (name, value) = input.split_once(':').unwrap_or((input, ""));
  let clean = |v: &str| !v.contains(['\r', '\n', '\0']);
  if let Ok(sent) = crate::egress::check_request_header(name, value) {
    assert!(crate::header::is_token(&sent) && clean(value));
  }
  if let Ok((sent, written)) = crate::api::response::check_header(name, value) {
    assert!(crate::header::is_token(&sent) && clean(&written));
    assert!(!crate::header::is_framing(&sent));
  }
  if let Ok(location) = crate::api::response::check_redirect_target(input) {
    assert!(clean(&location) && location.is_ascii());
    let local =
      location.starts_with('/') && !location.starts_with("//") && !location.starts_with("/\\");
    let absolute = url::Url::parse(&location).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    assert!(local || absolute, "redirect to {location:?}");
  }
}

/// The value copy between the host and the sandbox: text the host accepts goes into a script
/// and comes back out as JSON the host accepts again, however deep or odd (lone surrogates,
/// huge numbers); nothing recurses without a bound on either side.
pub fn json(input: &str) {
  let Ok(_) = crate::json::parse_value(input) else {
    return;
  };
  thread_local! {
    static SANDBOX: (rquickjs::Runtime, rquickjs::Context) = {
      let runtime = rquickjs::Runtime::new().expect("a runtime");
      runtime.set_memory_limit(64 << 20);
      runtime.set_max_stack_size(256 << 10);
      let context = rquickjs::Context::full(&runtime).expect("a context");
      (runtime, context)
    };
  }
  SANDBOX.with(|(_, context)| {
    context.with(|ctx| {
      let Ok(value) = crate::api::copy_in(&ctx, input) else {
        ctx.catch();
        return;
      };
      match crate::api::copy_out(&ctx, value, "fuzz") {
        Ok(text) => {
          let again = crate::json::parse_value(&text);
          assert!(
            again.is_ok(),
            "copied out as {text:?}, which does not parse"
          );
        }
        Err(_) => {
          ctx.catch();
        }
      }
    })
  });
}
