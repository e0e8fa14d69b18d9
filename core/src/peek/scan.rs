//! One pass over a header or payload segment's JSON: the same acceptance as
//! `serde_json::from_str::<Value>` (every value is parsed by `deserialize_any`, as `Value`'s own
//! deserializer does: same string, escape, number and depth rules), the duplicate check on the
//! interpreted members, and the members asked for kept as `Value`s. Keeping only the
//! interpreted members (the verifier's case) keeps them in fixed slots, and allocates nothing
//! for the other members.

use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer as _, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::{PeekError, Segment};

/// Most interpreted plus extra names `Members::Interpreted` can keep.
#[cfg(feature = "verify")]
const SLOTS: usize = 8;

/// Which members [`scan_object`] keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Members {
    /// Every member (what [`super::peek`] returns).
    All,
    /// Only the interpreted members and these names (the verifier's case; compiled with it
    /// only, so the client build carries none of this mode's code).
    #[cfg(feature = "verify")]
    Interpreted(&'static [&'static str]),
}

/// The members a scan kept.
// The slots are inline on purpose: boxing them would be the allocation they exist to avoid.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Object {
    /// Every member ([`Members::All`]).
    Map(Map<String, Value>),
    /// `Members::Interpreted`: by position in the interpreted names, then the extra ones.
    #[cfg(feature = "verify")]
    Slots {
        /// The interpreted names, then the extra names.
        names: [&'static str; SLOTS],
        /// The value of each name that occurs.
        values: [Option<Value>; SLOTS],
    },
}

impl Object {
    /// The member `name`, if it occurs and was kept.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Object::Map(map) => map.get(name),
            #[cfg(feature = "verify")]
            Object::Slots { names, values } => {
                let i = names.iter().position(|n| *n == name)?;
                values.get(i)?.as_ref()
            }
        }
    }

    /// The string member `name`, to be read once: moved out of its slot (nothing reads a slot
    /// twice), copied from a map (which [`super::peek`] returns whole). `Err(())` when the
    /// member is there but not a string.
    pub(crate) fn take_string(&mut self, name: &str) -> Result<Option<String>, ()> {
        match self {
            Object::Map(map) => match map.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(()),
            },
            #[cfg(feature = "verify")]
            Object::Slots { names, values } => {
                let slot = names
                    .iter()
                    .position(|n| *n == name)
                    .and_then(|i| values.get_mut(i));
                match slot.and_then(Option::take) {
                    None => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s)),
                    Some(_) => Err(()),
                }
            }
        }
    }

    /// The kept members as a map.
    pub(crate) fn into_map(self) -> Map<String, Value> {
        match self {
            Object::Map(map) => map,
            #[cfg(feature = "verify")]
            Object::Slots { names, values } => {
                let mut map = Map::new();
                for (name, value) in names.into_iter().zip(values) {
                    if let Some(value) = value {
                        map.insert(name.to_owned(), value);
                    }
                }
                map
            }
        }
    }
}

/// UTF-8 → JSON → object → no interpreted member twice (errors in that order, as a parse
/// followed by a duplicate pass would give them); the kept members, last one winning.
pub(super) fn scan_object(
    bytes: &[u8],
    segment: Segment,
    interpreted: &'static [&'static str],
    members: Members,
) -> Result<Object, PeekError> {
    let text = core::str::from_utf8(bytes).map_err(|_| PeekError::InvalidUtf8 { segment })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let scanned = de
        .deserialize_map(ObjectScan {
            interpreted,
            members,
        })
        .and_then(|s| de.end().map(|()| s));
    match scanned {
        Ok(Scanned {
            duplicate: Some(name),
            ..
        }) => Err(PeekError::DuplicateClaim { segment, name }),
        Ok(Scanned { object, .. }) => Ok(object),
        // Not an object at all (serde_json stops at the first character): whether the text is
        // still JSON decides between the two errors, as a whole-text parse would.
        Err(_)
            if !text
                .trim_start_matches([' ', '\t', '\n', '\r'])
                .starts_with('{') =>
        {
            match serde_json::from_str::<Value>(text) {
                Ok(_) => Err(PeekError::NotAJsonObject { segment }),
                Err(_) => Err(PeekError::InvalidJson { segment }),
            }
        }
        Err(_) => Err(PeekError::InvalidJson { segment }),
    }
}

/// An object's kept members and its first duplicate.
struct Scanned {
    object: Object,
    /// The first interpreted member seen a second time.
    duplicate: Option<&'static str>,
}

struct ObjectScan {
    interpreted: &'static [&'static str],
    members: Members,
}

/// How a member name is kept.
enum Key {
    /// An interpreted name (its index) or, with [`Members::All`], any other name: in the map.
    Named(String, Option<usize>),
    /// `Members::Interpreted`: the slot of an interpreted (the same index) or extra name.
    #[cfg(feature = "verify")]
    Slot(usize),
}

impl ObjectScan {
    fn key(&self, name: &str) -> Option<Key> {
        let interpreted = self.interpreted.iter().position(|n| *n == name);
        match self.members {
            Members::All => Some(Key::Named(name.to_owned(), interpreted)),
            #[cfg(feature = "verify")]
            Members::Interpreted(extra) => match interpreted {
                Some(i) => Some(Key::Slot(i)),
                None => extra
                    .iter()
                    .position(|n| *n == name)
                    .map(|j| Key::Slot(self.interpreted.len() + j)),
            },
        }
    }
}

impl<'de> Visitor<'de> for ObjectScan {
    type Value = Scanned;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Scanned, A::Error> {
        let mut map = Map::new();
        #[cfg(feature = "verify")]
        let mut values: [Option<Value>; SLOTS] = Default::default();
        // Indexed like `interpreted` (8 names at most: peek's lists have 3 and 7).
        let mut seen = [false; 8];
        let mut duplicate = None;
        while let Some(key) = access.next_key_seed(KeySeed(&self))? {
            let interpreted = match &key {
                Some(Key::Named(_, i)) => *i,
                #[cfg(feature = "verify")]
                Some(Key::Slot(i)) => Some(*i).filter(|i| *i < self.interpreted.len()),
                None => None,
            };
            if let Some(i) = interpreted {
                if let Some(seen) = seen.get_mut(i) {
                    if *seen && duplicate.is_none() {
                        duplicate = self.interpreted.get(i).copied();
                    }
                    *seen = true;
                }
            }
            match key {
                Some(Key::Named(name, _)) => {
                    map.insert(name, access.next_value::<Value>()?);
                }
                #[cfg(feature = "verify")]
                Some(Key::Slot(i)) => {
                    let value = access.next_value::<Value>()?;
                    if let Some(slot) = values.get_mut(i) {
                        *slot = Some(value);
                    }
                }
                None => {
                    access.next_value::<Skipped>()?;
                }
            }
        }
        let object = match self.members {
            Members::All => Object::Map(map),
            #[cfg(feature = "verify")]
            Members::Interpreted(extra) => {
                let mut names = [""; SLOTS];
                for (slot, name) in names.iter_mut().zip(self.interpreted.iter().chain(extra)) {
                    *slot = name;
                }
                Object::Slots { names, values }
            }
        };
        Ok(Scanned { object, duplicate })
    }
}

/// A member name: how the scan keeps it, or `None` (parsed and checked like any JSON
/// string, never allocated).
struct KeySeed<'a>(&'a ObjectScan);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<Key>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<Key>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.key(name))
    }
}

/// How a member the scan does not keep is parsed and dropped: `Skip` (no allocation). Without
/// the verifier no member is ever skipped (`Members::All` keeps all); `Value`, whose code is
/// there anyway, fills the arm.
#[cfg(feature = "verify")]
type Skipped = Skip;
#[cfg(not(feature = "verify"))]
type Skipped = Value;

/// Any JSON value, parsed (`deserialize_any`, like `Value`) and dropped.
#[cfg(feature = "verify")]
struct Skip;

#[cfg(feature = "verify")]
impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

#[cfg(feature = "verify")]
struct SkipVisitor;

#[cfg(feature = "verify")]
impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Skip, A::Error> {
        while access.next_key::<Skip>()?.is_some() {
            access.next_value::<Skip>()?;
        }
        Ok(Skip)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut access: A) -> Result<Skip, A::Error> {
        while access.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IgnoredAny;

    const NAMES: &[&str] = &["alg", "kid", "typ"];

    /// The two-pass reading this scan replaced: `Value`, then the first duplicate.
    fn reference(
        text: &str,
        interpreted: &'static [&'static str],
    ) -> Result<Map<String, Value>, PeekError> {
        let segment = Segment::Header;
        let value: Value =
            serde_json::from_str(text).map_err(|_| PeekError::InvalidJson { segment })?;
        let Value::Object(map) = value else {
            return Err(PeekError::NotAJsonObject { segment });
        };
        struct FirstDuplicate(&'static [&'static str]);
        impl<'de> Visitor<'de> for FirstDuplicate {
            type Value = Option<&'static str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut seen = [false; 8];
                let mut duplicate = None;
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    if let Some(i) = self.0.iter().position(|n| *n == key) {
                        if seen[i] && duplicate.is_none() {
                            duplicate = Some(self.0[i]);
                        }
                        seen[i] = true;
                    }
                }
                Ok(duplicate)
            }
        }
        let mut de = serde_json::Deserializer::from_str(text);
        match de.deserialize_map(FirstDuplicate(interpreted)) {
            Ok(None) => Ok(map),
            Ok(Some(name)) => Err(PeekError::DuplicateClaim { segment, name }),
            Err(_) => Err(PeekError::InvalidJson { segment }),
        }
    }

    fn check(text: &str) {
        let want = reference(text, NAMES);
        let all = scan_object(text.as_bytes(), Segment::Header, NAMES, Members::All)
            .map(Object::into_map);
        assert_eq!(all, want, "{text:?}");
        #[cfg(feature = "verify")]
        {
            let some = scan_object(
                text.as_bytes(),
                Segment::Header,
                NAMES,
                Members::Interpreted(&["crit"]),
            )
            .map(|o| {
                for name in ["alg", "kid", "typ", "crit", "x"] {
                    assert_eq!(o.get(name), o.clone().into_map().get(name));
                }
                o.into_map()
            });
            let want_some = want.map(|m| {
                m.into_iter()
                    .filter(|(k, _)| NAMES.contains(&k.as_str()) || k == "crit")
                    .collect::<Map<String, Value>>()
            });
            assert_eq!(some, want_some, "{text:?}");
        }
    }

    #[test]
    fn same_answers_as_value_then_duplicates() {
        for text in [
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"alg":"HS256","alg":"none"}"#,
            r#"{"\u0061lg":"HS256","alg":"x"}"#,
            r#"{"alg":"HS256","x":{"alg":1,"alg":2},"x":[1,2,{"a":null}]}"#,
            r#"{"crit":["a"],"crit":["b"],"kid":"k"}"#,
            r#"{"alg":"HS256","alg":"x",}"#,
            r#"{"alg":"HS256","alg":"x","n":1e400}"#,
            r#"{"alg":"HS256","n":1e400}"#,
            r#"{"alg":"HS256","s":"\ud800"}"#,
            r#"{"alg":"HS256","s":"\ud83d\ude00 \u00e9\n"}"#,
            r#"{"alg":"HS256"} x"#,
            r#"{"alg":"HS256"}  "#,
            r#"[1,2,3]"#,
            r#"[1,2,"#,
            r#"1"#,
            r#""x""#,
            r#"null"#,
            r#"true"#,
            r#"-0"#,
            r#"{}"#,
            r#"{"a":-0,"b":1.5e300,"c":18446744073709551615,"d":18446744073709551616,"e":-9223372036854775809}"#,
            "{\"a\":\"\u{1}\"}",
            "",
            " ",
        ] {
            check(text);
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(130), "]".repeat(130));
        check(&deep);
        let shallow = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        check(&shallow);
    }

    fn json_fragment() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("-0".to_owned()),
            Just("1e400".to_owned()),
            Just("1.5".to_owned()),
            Just("12345678901234567890".to_owned()),
            Just("\"\\ud800\"".to_owned()),
            Just("\"\\u0061lg\"".to_owned()),
            "\"[a-z]{0,3}\"",
            Just("x".to_owned()),
            Just(",".to_owned()),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("\"alg\"".to_owned()),
                            Just("\"kid\"".to_owned()),
                            Just("\"crit\"".to_owned()),
                            Just("\"\\u0061lg\"".to_owned()),
                            "\"[a-z]{0,2}\""
                        ],
                        inner
                    ),
                    0..5
                )
                .prop_map(|v| format!(
                    "{{{}}}",
                    v.iter()
                        .map(|(k, x)| format!("{k}:{x}"))
                        .collect::<Vec<_>>()
                        .join(",")
                )),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn agrees_with_the_two_pass_reading(text in json_fragment(), pad in "[ \\n]{0,2}") {
            check(&format!("{pad}{text}{pad}"));
        }
    }
}
