//! Strict parsing of OAuth parameters from a query string or form body: every parameter at most
//! once (RFC 6749 §3.1) except those RFC 8707 and RFC 8693 let repeat (`resource`, `audience`:
//! the repetition is recorded for the caller to refuse in its own words), bounded sizes, never
//! a panic on bytes that are not UTF-8.

use std::collections::HashMap;

/// Longest value accepted for any parameter.
pub const MAX_VALUE: usize = 2048;
/// Most parameters accepted in one request.
pub const MAX_PARAMS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("parameter {0} is repeated")]
    Repeated(String),
    #[error("parameter {0} is too long")]
    TooLong(String),
    #[error("too many parameters")]
    TooMany,
}

/// Parameters that may be sent more than once (RFC 8707 §2, RFC 8693 §2.1); the first value is
/// kept and [`Params::repeated`] says so.
const MAY_REPEAT: [&str; 2] = ["resource", "audience"];

#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>, Vec<&'static str>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text. Invalid UTF-8 after percent-decoding is
    /// replaced (it can never match a registered value). Empty values count as absent.
    pub fn parse(raw: &[u8]) -> Result<Self, ParamError> {
        let mut map = HashMap::new();
        let mut repeated = Vec::new();
        for (i, (k, v)) in form_urlencoded_pairs(raw).into_iter().enumerate() {
            if i >= MAX_PARAMS {
                return Err(ParamError::TooMany);
            }
            if v.len() > MAX_VALUE {
                return Err(ParamError::TooLong(short(&k)));
            }
            if map.contains_key(&k) {
                match MAY_REPEAT.iter().find(|m| **m == k) {
                    Some(m) => {
                        if !repeated.contains(m) {
                            repeated.push(*m);
                        }
                        continue;
                    }
                    None => return Err(ParamError::Repeated(short(&k))),
                }
            }
            if !v.is_empty() {
                map.insert(k, v);
            } else {
                map.insert(k, String::new());
            }
        }
        map.retain(|_, v| !v.is_empty());
        Ok(Self(map, repeated))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Whether `key` (one of those that may repeat) was sent more than once.
    pub fn repeated(&self, key: &str) -> bool {
        self.1.contains(&key)
    }
}

fn short(k: &str) -> String {
    k.chars().take(40).collect()
}

fn form_urlencoded_pairs(raw: &[u8]) -> Vec<(String, String)> {
    raw.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |b| *b == b'=');
            let k = decode(it.next().unwrap_or_default());
            let v = decode(it.next().unwrap_or_default());
            (k, v)
        })
        .collect()
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space, `%XX` a byte);
/// invalid UTF-8 is replaced.
pub fn decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_decodes() {
        let p = Params::parse(b"a=1&b=x+y%2Fz&c=&d").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x y/z"));
        assert_eq!(p.get("c"), None);
        assert_eq!(p.get("d"), None);
    }

    #[test]
    fn repeated_parameter_is_an_error() {
        assert_eq!(
            Params::parse(b"a=1&a=2").unwrap_err(),
            ParamError::Repeated("a".into())
        );
    }

    #[test]
    fn bad_bytes_never_panic() {
        for raw in [
            &b"%"[..],
            b"%F",
            b"%FF",
            b"a=%ZZ",
            b"=",
            b"&&&",
            b"a=%E1%BA",
            b"%%%=%%",
        ] {
            let _ = Params::parse(raw);
        }
        let p = Params::parse(b"a=%FF%FE").unwrap();
        assert_eq!(p.get("a"), Some("\u{FFFD}\u{FFFD}"));
        let p = Params::parse(b"a=%4").unwrap();
        assert_eq!(p.get("a"), Some("%4"));
    }

    #[test]
    fn oversized_and_too_many_are_errors() {
        let long = format!("a={}", "x".repeat(MAX_VALUE + 1));
        assert!(matches!(
            Params::parse(long.as_bytes()),
            Err(ParamError::TooLong(_))
        ));
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert_eq!(
            Params::parse(many.join("&").as_bytes()).unwrap_err(),
            ParamError::TooMany
        );
    }

    proptest::proptest! {
        /// Query strings and form bodies come from anyone: any bytes give parameters or a
        /// clear error, never a panic, and what is returned respects the bounds.
        #[test]
        fn any_bytes_parse_or_fail_cleanly(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
            if let Ok(p) = Params::parse(&raw) {
                proptest::prop_assert!(p.0.len() <= MAX_PARAMS);
                proptest::prop_assert!(p.0.values().all(|v| !v.is_empty() && v.len() <= MAX_VALUE));
            }
        }

        /// Pairs that were encoded come back as they were.
        #[test]
        fn encoded_pairs_round_trip(pairs in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{1,40}", 0..10)) {
            let raw = serde_urlencoded::to_string(&pairs).unwrap();
            let p = Params::parse(raw.as_bytes()).unwrap();
            for (k, v) in &pairs {
                proptest::prop_assert_eq!(p.get(k), Some(v.as_str()));
            }
        }
    }
}
