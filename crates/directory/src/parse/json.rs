//! JSON: an array of objects, streamed through serde so that rows are checked as they are
//! read, without building a `serde_json::Value` of the whole document. A structured error is
//! left in the state and the deserializer stopped with a placeholder error. See the [module
//! documentation](super) for the rules.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::input::{check_utf8, estimate_rows, strip_bom};
use super::row::Builder;
use super::{FileError, Limits, Parsed, COLUMNS};

struct JsonState {
    builder: Builder,
    error: Option<FileError>,
}

impl JsonState {
    fn fail<E: de::Error>(&mut self, error: FileError) -> E {
        let e = E::custom(&error);
        self.error = Some(error);
        e
    }
}

/// Reads a JSON array of objects within `limits`: every element becomes a row or rejections,
/// with its 1-based position in the array for a line.
pub(super) fn read(bytes: &[u8], limits: Limits) -> Result<Parsed, FileError> {
    let bytes = strip_bom(bytes);
    check_utf8(bytes)?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err(FileError::Empty),
        Some(b'[') => {}
        Some(_) => {
            return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
                Ok(_) => FileError::NotAnArray,
                Err(e) => malformed_json(&e),
            })
        }
    }
    let mut state = JsonState {
        builder: Builder::new(
            limits,
            "element",
            estimate_rows(bytes.iter().filter(|&&b| b == b'{').count(), bytes.len()),
        ),
        error: None,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = JsonRows(&mut state)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match result {
        Ok(()) => Ok(state.builder.finish()),
        Err(e) => Err(state.error.take().unwrap_or_else(|| malformed_json(&e))),
    }
}

fn malformed_json(e: &serde_json::Error) -> FileError {
    FileError::MalformedJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

struct JsonRows<'s>(&'s mut JsonState);

impl<'de> DeserializeSeed<'de> for JsonRows<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for JsonRows<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            index += 1;
            let element = JsonRow {
                state: &mut *self.0,
                index,
            };
            if seq.next_element_seed(element)?.is_none() {
                return Ok(());
            }
        }
    }
}

struct JsonRow<'s> {
    state: &'s mut JsonState,
    index: usize,
}

impl JsonRow<'_> {
    fn not_an_object<E: de::Error>(self) -> Result<(), E> {
        Err(self
            .state
            .fail(FileError::NotAnObject { index: self.index }))
    }
}

impl<'de> DeserializeSeed<'de> for JsonRow<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonRow<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let index = self.index;
        let state = self.state;
        let mut cells: [Option<Cow<'de, str>>; COLUMNS.len()] = Default::default();
        let mut seen = [false; COLUMNS.len()];
        while let Some(key) = map.next_key::<JsonKey>()? {
            let col = match key {
                JsonKey::Column(col) => col,
                JsonKey::Unknown(key) => {
                    return Err(state.fail(FileError::UnknownKey { index, key }));
                }
            };
            if seen[col] {
                return Err(state.fail(FileError::DuplicateKey {
                    index,
                    key: COLUMNS[col],
                }));
            }
            seen[col] = true;
            match map.next_value::<JsonCell<'de>>()? {
                JsonCell::Text(text) => cells[col] = Some(text),
                JsonCell::Null => {}
                JsonCell::Other(found) => {
                    return Err(state.fail(FileError::NotAString {
                        index,
                        key: COLUMNS[col],
                        found,
                    }));
                }
            }
        }
        let fields: [&str; COLUMNS.len()] =
            std::array::from_fn(|i| cells[i].as_deref().unwrap_or(""));
        let builder = &mut state.builder;
        let checked = builder.count_row().and_then(|()| {
            fields
                .iter()
                .zip(COLUMNS)
                .try_for_each(|(value, column)| builder.check_length(index, Some(column), value))
        });
        if let Err(error) = checked {
            return Err(state.fail(error));
        }
        state.builder.row(index, &fields);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.not_an_object()
    }
}

enum JsonKey {
    Column(usize),
    Unknown(String),
}

impl<'de> de::Deserialize<'de> for JsonKey {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = JsonKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<JsonKey, E> {
                let name = key.trim();
                Ok(
                    match COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) {
                        Some(col) => JsonKey::Column(col),
                        None => JsonKey::Unknown(key.to_owned()),
                    },
                )
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

enum JsonCell<'de> {
    Text(Cow<'de, str>),
    Null,
    /// What was found instead ("a boolean", "an array", "an object").
    Other(&'static str),
}

impl<'de> de::Deserialize<'de> for JsonCell<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = JsonCell<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonCell::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonCell::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonCell::Text(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(JsonCell::Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(JsonCell::Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // serde_json's own rendering keeps a float recognisable (`792030000000.0`), so
                // `7.9203E+11` stays an invalid personal ID number.
                let text = serde_json::Number::from_f64(v)
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                Ok(JsonCell::Text(Cow::Owned(text)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(JsonCell::Other("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonCell::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonCell::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonCell::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonCell::Other("an object"))
            }
        }
        deserializer.deserialize_any(CellVisitor)
    }
}
