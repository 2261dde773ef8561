//! A strict `application/x-www-form-urlencoded` parser for query strings and form bodies.
//!
//! Stricter than `serde_urlencoded` on purpose: a parameter given twice (RFC 6749 §3.1: "MUST
//! NOT be included more than once"), bytes that are not UTF-8 after percent-decoding (`%FF`), a
//! broken percent escape or an oversized input are refused instead of being silently replaced or
//! truncated, so every such request gets a 400 and nothing odd is echoed back.

use std::collections::BTreeMap;

/// Query strings are refused above this many bytes.
pub(crate) const MAX_QUERY: usize = 8 * 1024;
/// Form bodies are refused above this many bytes.
pub(crate) const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParamError {
    TooLarge,
    Malformed,
    NotUtf8(String),
    Repeated(String),
}

impl ParamError {
    /// The sentence shown on a Vietnamese error page.
    pub(crate) fn vietnamese(&self) -> String {
        match self {
            Self::TooLarge => "Yêu cầu quá lớn.".to_owned(),
            Self::Malformed => "Yêu cầu không đúng định dạng.".to_owned(),
            Self::NotUtf8(k) => {
                format!("Tham số “{}” không phải văn bản UTF-8 hợp lệ.", shorten(k))
            }
            Self::Repeated(k) => format!("Tham số “{}” xuất hiện nhiều lần.", shorten(k)),
        }
    }

    /// The `error_description` of an OAuth error body.
    pub(crate) fn english(&self) -> String {
        match self {
            Self::TooLarge => "request too large".to_owned(),
            Self::Malformed => "malformed form encoding".to_owned(),
            Self::NotUtf8(k) => format!("parameter {} is not valid UTF-8", shorten(k)),
            Self::Repeated(k) => format!("parameter {} is repeated", shorten(k)),
        }
    }
}

fn shorten(key: &str) -> String {
    const MAX: usize = 40;
    if key.chars().count() <= MAX {
        key.to_owned()
    } else {
        let mut s: String = key.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// Parsed parameters: each name at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    pub(crate) fn parse(input: &[u8], max: usize) -> Result<Self, ParamError> {
        if input.len() > max {
            return Err(ParamError::TooLarge);
        }
        let mut map = BTreeMap::new();
        for pair in input.split(|b| *b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            let key = decode(k)?;
            let key = String::from_utf8(key).map_err(|e| {
                ParamError::NotUtf8(String::from_utf8_lossy(e.as_bytes()).into_owned())
            })?;
            let value = decode(v)?;
            let value = String::from_utf8(value).map_err(|_| ParamError::NotUtf8(key.clone()))?;
            if map.contains_key(&key) {
                return Err(ParamError::Repeated(key));
            }
            map.insert(key, value);
        }
        Ok(Self(map))
    }

    /// The value of `name`, `None` when absent. An empty value counts as absent, as OAuth
    /// treats parameters sent without a value (RFC 6749 §3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Form decoding: `+` is a space, `%XX` a byte. A `%` not followed by two hex digits is refused.
pub(crate) fn decode(input: &[u8]) -> Result<Vec<u8>, ParamError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = input.get(i + 1).and_then(|b| hex(*b));
                let lo = input.get(i + 2).and_then(|b| hex(*b));
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err(ParamError::Malformed),
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
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
mod tests {
    use super::*;

    #[test]
    fn form_encoding_is_decoded() {
        let p = Params::parse(b"a=1&b=x+y%2Bz&c=%C4%90%E1%BB%8Bnh&d", MAX_QUERY).unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x y+z"));
        assert_eq!(p.get("c"), Some("Định"));
        assert_eq!(p.get("d"), None);
        assert_eq!(p.get("e"), None);
    }

    #[test]
    fn repeated_parameter_is_refused() {
        assert_eq!(
            Params::parse(b"state=a&state=b", MAX_QUERY),
            Err(ParamError::Repeated("state".into()))
        );
    }

    #[test]
    fn non_utf8_bytes_are_refused() {
        assert_eq!(
            Params::parse(b"state=%FF", MAX_QUERY),
            Err(ParamError::NotUtf8("state".into()))
        );
        assert!(matches!(
            Params::parse(b"%FF=1", MAX_QUERY),
            Err(ParamError::NotUtf8(_))
        ));
        assert!(matches!(
            Params::parse(b"a=\xff", MAX_QUERY),
            Err(ParamError::NotUtf8(_))
        ));
    }

    #[test]
    fn broken_percent_escape_is_refused() {
        assert_eq!(
            Params::parse(b"a=%G1", MAX_QUERY),
            Err(ParamError::Malformed)
        );
        assert_eq!(
            Params::parse(b"a=%4", MAX_QUERY),
            Err(ParamError::Malformed)
        );
        assert_eq!(Params::parse(b"a=%", MAX_QUERY), Err(ParamError::Malformed));
    }

    #[test]
    fn oversized_input_is_refused() {
        let big = vec![b'a'; MAX_QUERY + 1];
        assert_eq!(Params::parse(&big, MAX_QUERY), Err(ParamError::TooLarge));
    }

    #[test]
    fn error_messages_shorten_long_names() {
        let e = ParamError::Repeated("x".repeat(500));
        assert!(e.vietnamese().chars().count() < 100);
        assert!(e.english().len() < 100);
    }
}
